// LoRA rank selection and prompt templates on SwiftShader against the CPU (see rank-suite.ts).
import { rankSuite } from './rank-suite.ts';

rankSuite('swiftshader');
