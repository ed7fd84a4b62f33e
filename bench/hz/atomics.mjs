import { atomicsPing, atomicsPong, options } from '../lib.mjs';

const ia = new Int32Array(new SharedArrayBuffer(8));
const ponger = hz.spawn((ia, pong) => (0, eval)(`(${pong})`)(ia), ia, String(atomicsPong));
atomicsPing(ia, options(hz.args, { n: 20000, warm: 2000 }));
await ponger.join();
