// `await using` needs Symbol.asyncDispose at run time; Node 18.18+ and 20.4+ define it. On an older runtime the
// well-known symbol is created here, before any class uses it as a method name.
const symbols = Symbol as { asyncDispose?: symbol; dispose?: symbol };
symbols.asyncDispose ??= Symbol.for('nodejs.asyncDispose');
symbols.dispose ??= Symbol.for('nodejs.dispose');
export {};
