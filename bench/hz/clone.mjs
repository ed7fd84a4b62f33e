import { cloneWorkload, options } from '../lib.mjs';

cloneWorkload(options(hz.args, { small: 20000, large: 50 }));
