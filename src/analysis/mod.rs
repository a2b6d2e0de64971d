//! Statistics computed from a training run's state: the coherence measurements of section 2.4
//! of the paper (strong and weak gradient directions) and the alpha / m-coherence of its
//! follow-ups.

pub mod coherence;
pub mod similarity;
