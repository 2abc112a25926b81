// Decoding with the key/value cache on swiftshader against the CPU (see kv-cache-suite.ts).
import { kvCacheSuite } from './kv-cache-suite.ts';

kvCacheSuite('swiftshader');
