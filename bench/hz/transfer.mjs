import { emitSamples, options } from '../lib.mjs';

const o = options(hz.args, { sizes: '1024,16384,262144,4194304,67108864', reps: 40 });
for (const mode of ['transfer', 'copy']) {
  const move = mode === 'transfer';
  const ping = hz.channel(0), pong = hz.channel(0);
  const echo = hz.spawn(async (ping, pong, move) => {
    for await (const v of ping) await pong.send(v, move ? { transfer: [v] } : undefined);
  }, ping, pong, move);
  for (const size of o.sizes.split(',').map(Number)) {
    let buf = new ArrayBuffer(size);
    const reps = Math.max(3, Math.min(o.reps, Math.floor((o.reps * 1048576) / size)));
    const samples = [];
    for (let i = 0; i < reps + 1; i++) {
      const t0 = performance.now();
      await ping.send(buf, move ? { transfer: [buf] } : undefined);
      buf = (await pong.recv()).value;
      if (i > 0) samples.push((performance.now() - t0) * 1000);
    }
    emitSamples(`${mode} ${size}`, samples, 'us');
  }
  ping.close();
  await echo.join();
}
