import { Peer, args, exit } from './rt.mjs';
import { options, transferWorkload } from '../lib.mjs';

await transferWorkload(options(args, { sizes: '1024,16384,262144,4194304,67108864', reps: 40 }), async (move) => {
  const w = await Peer.start('echo', { transfer: move });
  return {
    trip: (buf) => {
      w.post(buf, move ? [buf] : []);
      return w.next();
    },
    close: () => w.terminate(),
  };
});
exit();
