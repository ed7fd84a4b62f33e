import { options, roundTripWorkload } from '../lib.mjs';

const ping = hz.channel(0), pong = hz.channel(0);
const echo = hz.spawn(async (ping, pong) => { for await (const v of ping) await pong.send(v); }, ping, pong);
await roundTripWorkload(options(hz.args, { n: 20000, warm: 2000 }), (v) => ping.send(v).then(() => pong.recv()));
ping.close();
await echo.join();
