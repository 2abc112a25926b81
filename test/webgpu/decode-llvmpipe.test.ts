// Generation on llvmpipe against the CPU (see decode-suite.ts).
import { decodeSuite } from './decode-suite.ts';

decodeSuite('llvmpipe');
