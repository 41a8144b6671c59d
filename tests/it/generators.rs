//! Generators of valid and invalid operation histories, from a small vocabulary so that counterexamples shrink to something readable.
