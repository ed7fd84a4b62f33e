import { options, transferWorkload } from '../lib.mjs';

await transferWorkload(options(hz.args, { sizes: '1024,16384,262144,4194304,67108864', reps: 40 }), (move) => {
  const ping = hz.channel(0), pong = hz.channel(0);
  const echo = hz.spawn(async (ping, pong, move) => {
    for await (const v of ping) await pong.send(v, move ? { transfer: [v] } : undefined);
  }, ping, pong, move);
  return {
    trip: (buf) => ping.send(buf, move ? { transfer: [buf] } : undefined).then(() => pong.recv()).then((r) => r.value),
    close: () => {
      ping.close();
      return echo.join();
    },
  };
});
