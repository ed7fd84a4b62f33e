// A CSP pipeline: a producer feeds numbers to N worker agents over one
// channel; each worker squares what it takes and sends the result on to a
// collector agent. Closing a channel lets its receivers drain it and end.
//
//   cargo run --release -- run examples/pipeline.js
const WORKERS = 4;
const jobs = hz.channel(16);
const results = hz.channel(16);

const workers = [];
for (let w = 0; w < WORKERS; w++) {
  workers.push(hz.spawn(async (jobs, results, w) => {
    let count = 0;
    for await (const n of jobs) {
      await results.send({ n, square: n * n, worker: w });
      count++;
    }
    return count;
  }, jobs, results, w));
}

const collector = hz.spawn(async (results) => {
  let sum = 0, items = 0;
  for await (const r of results) {
    sum += r.square;
    items++;
  }
  return { sum, items };
}, results);

(async () => {
  for (let i = 1; i <= 1000; i++) await jobs.send(i);
  jobs.close(); // the workers drain the rest, then their loops end
  const counts = await Promise.all(workers.map((w) => w.join()));
  results.close(); // now the collector drains and ends
  const { sum, items } = await collector.join();
  console.log(`items: ${items}`);
  console.log(`sum of squares 1..1000 = ${sum}`);
  console.log(`per worker: ${counts.join(', ')} (on ${hz.threads} threads)`);
})();
