// Generation on swiftshader against the CPU (see decode-suite.ts).
import { decodeSuite } from './decode-suite.ts';

decodeSuite('swiftshader');
