/**
 * Starts bfe-ts from code with mod_hello on examples/mod_hello/conf (port 8090), the other way
 * to run a module (the first is `ModuleFile` in bfe.conf). The routing and balancing data are the
 * ones of the bundled conf/ directory, so `npm start` in another terminal provides the upstreams.
 *
 *   npm run build
 *   node dist/examples/mod_hello/main.js
 */
import { fileURLToPath } from 'node:url'
import { BfeServer } from 'bfe-ts'
import { createModHello } from './index.js'

// dist/examples/mod_hello/main.js → examples/mod_hello/conf
const confRoot = fileURLToPath(new URL('../../../examples/mod_hello/conf', import.meta.url))

const server = await BfeServer.load({ confRoot, modules: [createModHello()] })
const port = await server.listen()
console.log(`bfe-ts with mod_hello listening on port ${port}`)
process.once('SIGINT', () => {
  void server.close().then(() => process.exit(0))
})
