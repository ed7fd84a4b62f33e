import { multiplyRows, options, speedupWorkload } from '../lib.mjs';

// k agents taking row bands from one jobs channel.
async function pool(k, a, bt, n) {
  const jobs = hz.channel(1024), results = hz.channel(1024);
  const agents = [];
  for (let i = 0; i < k; i++) {
    agents.push(hz.spawn(async (jobs, results, a, bt, n, kernel) => {
      const multiplyRows = (0, eval)(`(${kernel})`);
      for await (const [from, to] of jobs) {
        const c = multiplyRows(a, bt, n, from, to);
        await results.send([from, c], { transfer: [c.buffer] });
      }
    }, jobs, results, a, bt, n, String(multiplyRows)));
  }
  return {
    async run(tasks) {
      for (const t of tasks) await jobs.send(t);
      for (let i = 0; i < tasks.length; i++) await results.recv();
    },
    async close() {
      jobs.close();
      await Promise.all(agents.map((h) => h.join()));
    },
  };
}
await speedupWorkload(options(hz.args, { n: 96, target: 600, rounds: 5, fine: 64, agents: '1,2,4', fixed: 0 }), pool);
