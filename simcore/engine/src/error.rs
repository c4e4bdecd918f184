//! The engine's one error type.
//!
//! Every failure a user can cause (a bad parameter, an array of the wrong length, an unknown
//! id or state variable, an unsupported combination of models) is a [`SimError`] with a message
//! that names the offending item; the bindings map it onto a Python exception.

use std::fmt;

/// Result alias used throughout the engine.
pub type Result<T> = std::result::Result<T, SimError>;

/// Everything that can go wrong while building or running a network.
#[derive(Debug, Clone, PartialEq)]
pub enum SimError {
    /// A parameter has a value outside its domain (negative time constant, p > 1, ...).
    InvalidParameter {
        /// The parameter, e.g. `"lif.tau_m"`.
        name: String,
        /// Why the value is rejected.
        reason: String,
    },
    /// An array's length does not match what it describes.
    LengthMismatch {
        /// What the array describes, e.g. `"weights"`.
        what: String,
        /// The required length.
        expected: usize,
        /// The length given.
        got: usize,
    },
    /// An index (neuron, synapse) is out of range.
    IndexOutOfRange {
        /// What is indexed, e.g. `"post-synaptic neuron"`.
        what: String,
        /// The offending index.
        index: usize,
        /// The number of valid indices.
        len: usize,
    },
    /// An id (population, projection, monitor, ...) that this network does not hold.
    UnknownId {
        /// The kind of object, e.g. `"population"`.
        kind: &'static str,
        /// The id given.
        id: usize,
    },
    /// A state variable the model does not have.
    UnknownVariable {
        /// The model or population asked.
        owner: String,
        /// The name given.
        name: String,
        /// The names it does have.
        available: Vec<String>,
    },
    /// A combination the engine does not support (a conductance synapse on a current-based LIF).
    Unsupported(String),
}

impl SimError {
    /// Shorthand for [`SimError::InvalidParameter`].
    pub fn invalid(name: impl Into<String>, reason: impl Into<String>) -> Self {
        SimError::InvalidParameter {
            name: name.into(),
            reason: reason.into(),
        }
    }

    /// Shorthand for [`SimError::LengthMismatch`].
    pub fn length(what: impl Into<String>, expected: usize, got: usize) -> Self {
        SimError::LengthMismatch {
            what: what.into(),
            expected,
            got,
        }
    }

    /// Shorthand for [`SimError::IndexOutOfRange`].
    pub fn index(what: impl Into<String>, index: usize, len: usize) -> Self {
        SimError::IndexOutOfRange {
            what: what.into(),
            index,
            len,
        }
    }
}

impl fmt::Display for SimError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SimError::InvalidParameter { name, reason } => {
                write!(f, "invalid parameter {name}: {reason}")
            }
            SimError::LengthMismatch {
                what,
                expected,
                got,
            } => {
                write!(f, "{what} has {got} values, expected {expected}")
            }
            SimError::IndexOutOfRange { what, index, len } => {
                write!(f, "{what} index {index} is out of range (there are {len})")
            }
            SimError::UnknownId { kind, id } => write!(f, "no {kind} with id {id} in this network"),
            SimError::UnknownVariable {
                owner,
                name,
                available,
            } => write!(
                f,
                "{owner} has no state variable {name:?} (it has: {})",
                available.join(", ")
            ),
            SimError::Unsupported(message) => write!(f, "unsupported: {message}"),
        }
    }
}

impl std::error::Error for SimError {}

/// Checks that `value` is finite and strictly positive.
pub(crate) fn positive(name: &str, value: f64) -> Result<()> {
    if value.is_finite() && value > 0.0 {
        Ok(())
    } else {
        Err(SimError::invalid(
            name,
            format!("must be finite and > 0, got {value}"),
        ))
    }
}

/// Checks that `value` is finite and not negative.
pub(crate) fn non_negative(name: &str, value: f64) -> Result<()> {
    if value.is_finite() && value >= 0.0 {
        Ok(())
    } else {
        Err(SimError::invalid(
            name,
            format!("must be finite and >= 0, got {value}"),
        ))
    }
}

/// Checks that `value` is finite.
pub(crate) fn finite(name: &str, value: f64) -> Result<()> {
    if value.is_finite() {
        Ok(())
    } else {
        Err(SimError::invalid(
            name,
            format!("must be finite, got {value}"),
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn messages_name_the_offender() {
        let e = SimError::length("weights", 10, 3);
        assert_eq!(e.to_string(), "weights has 3 values, expected 10");
        let e = SimError::UnknownVariable {
            owner: "lif".into(),
            name: "u".into(),
            available: vec!["v".into()],
        };
        assert!(e.to_string().contains("\"u\""));
        assert!(positive("tau", -1.0).is_err());
        assert!(positive("tau", f64::NAN).is_err());
        assert!(non_negative("t_ref", 0.0).is_ok());
    }
}
