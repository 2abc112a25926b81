// Several adapters in one batch on llvmpipe (see multi-suite.ts). A missing adapter fails, never skips.
import { multiSuite } from './multi-suite.ts';

multiSuite('llvmpipe');
