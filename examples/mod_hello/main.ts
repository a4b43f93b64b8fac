/**
 * Starts bfe-ts with mod_hello on examples/mod_hello/conf (port 8090). The routing and balancing
 * data are the ones of the bundled conf/ directory, so `npm start` in another terminal provides
 * the upstreams. Ctrl-C prints the module's counters and stops.
 *
 *   npx tsc -p examples/tsconfig.json --noEmit false
 *   node dist/examples/mod_hello/main.js
 */
import { fileURLToPath } from 'node:url'
import { createLogger } from '../../src/log/logger.js'
import { BfeServer } from '../../src/server/server.js'
import { modHello } from './index.js'

// dist/examples/mod_hello/main.js → examples/mod_hello/conf
const confRoot = fileURLToPath(new URL('../../../examples/mod_hello/conf', import.meta.url))

const server = await BfeServer.load({
  confRoot,
  modules: [modHello],
  log: createLogger({ stdout: true }),
})
const port = await server.listen()
console.log(`bfe-ts with mod_hello listening on port ${port}`)

process.once('SIGINT', () => {
  const monitor = server.framework.web.monitor.get('mod_hello')
  console.log('mod_hello counters:', monitor?.(new URLSearchParams()))
  void server.close().then(() => process.exit(0))
})
