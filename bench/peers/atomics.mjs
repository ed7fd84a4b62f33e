import { Peer, args, exit } from './rt.mjs';
import { atomicsPing, options } from '../lib.mjs';

const ia = new Int32Array(new SharedArrayBuffer(8));
await Peer.start('atomics', { ia });
atomicsPing(ia, options(args, { n: 20000, warm: 2000 }));
exit();
