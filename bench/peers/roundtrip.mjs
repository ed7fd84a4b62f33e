import { Peer, args, exit } from './rt.mjs';
import { options, roundTripWorkload } from '../lib.mjs';

const w = await Peer.start('echo');
await roundTripWorkload(options(args, { n: 20000, warm: 2000 }), (v) => {
  w.post(v);
  return w.next();
});
exit();
