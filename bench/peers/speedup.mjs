import { Peer, args, exit } from './rt.mjs';
import { options, speedupWorkload } from '../lib.mjs';

async function pool(k, a, bt, n) {
  const ws = await Promise.all(Array.from({ length: k }, () => Peer.start('matrix', { a, bt, n })));
  return {
    async run(tasks) {
      let next = 0;
      await Promise.all(ws.map(async (w) => {
        while (next < tasks.length) {
          w.post(tasks[next++]);
          await w.next();
        }
      }));
    },
    close: () => Promise.all(ws.map((w) => w.terminate())),
  };
}
await speedupWorkload(options(args, { n: 96, target: 600, rounds: 5, fine: 64, agents: '1,2,4', fixed: 0 }), pool);
exit();
