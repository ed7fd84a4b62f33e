import { args, exit } from './rt.mjs';
import { cloneWorkload, options } from '../lib.mjs';

cloneWorkload(options(args, { small: 20000, large: 50 }));
exit();
