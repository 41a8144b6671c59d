//! Cross-crate tests of theseus live in `it/` (one test binary, one module
//! per concern); this library is empty.
