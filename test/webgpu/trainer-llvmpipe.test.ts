import { trainerSuite } from './trainer-suite.ts';

trainerSuite('llvmpipe');
