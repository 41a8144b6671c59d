//! Laws of the projections: determinism, checkpoint plus tail, retraction cancels, independence, merge.
