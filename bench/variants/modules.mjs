// The module cost of issue 11, module by module: `node bench/cpu-ab.mjs --variants
// bench/variants/modules.mjs` (the modules' configuration is bench/conf/bfe-conf.mjs's).
import { BENCH_MODULES } from '../conf/bfe-conf.mjs'

export const variants = [
  { name: 'base', modules: ['mod_bench'] },
  ...BENCH_MODULES.map((m) => ({ name: m, modules: ['mod_bench', m] })),
  { name: 'all', modules: ['mod_bench', ...BENCH_MODULES] },
]
