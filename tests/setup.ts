// fast-check runs from a fixed seed, so a CI run is reproducible; FC_SEED=<n>
// explores other cases locally (a failing run prints its seed and path).
import fc from 'fast-check';

const seed = process.env.FC_SEED === undefined ? 20261127 : Number(process.env.FC_SEED);
fc.configureGlobal({ seed });
