// Stable diagnostic codes of the semantic phases (syntax codes E01xx live in grammar/).
// The catalog with examples is docs/diagnostics.md; never renumber a code.

export const Codes = {
  // names and structure
  UnknownName: 'E0201',
  Duplicate: 'E0202',
  ImportNotFound: 'E0203',
  ImportCycle: 'E0204',
  NoModel: 'E0205',
  MultipleModels: 'E0206',
  UnknownSetting: 'E0207',
  BadArguments: 'E0208',
  NotCallable: 'E0209',
  NoForward: 'E0210',
  NoReturn: 'E0211',
  Recursion: 'E0212',
  // values, types and shapes
  ShapeMismatch: 'E0301',
  NotAnInteger: 'E0302',
  TypeMismatch: 'E0303',
  DivisionByZero: 'E0304',
  BadOutput: 'E0305',
  // PEFT
  PatternMatchesNothing: 'E0401',
  MethodNotApplicable: 'E0402',
  UnknownMethod: 'E0403',
  BadMethodSetting: 'E0404',
  OverrideMatchesNothing: 'W0405',
  ConflictingMethods: 'E0406',
  PatternTooLong: 'E0407',
  // command line
  BadSet: 'E0501',
  // internal
  IrInvalid: 'E0900',
} as const;
