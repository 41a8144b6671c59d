//! Several processes appending to one store at once.
