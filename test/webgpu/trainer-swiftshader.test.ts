import { trainerSuite } from './trainer-suite.ts';

trainerSuite('swiftshader');
