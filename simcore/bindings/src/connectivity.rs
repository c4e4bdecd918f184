//! `Connectivity`: synapses generated (seeded) or given as lists, held until a projection
//! takes them. Generating first lets the Python layer learn the number of synapses and draw
//! per-synapse weights and delays before connecting.

use numpy::{PyArray1, PyReadonlyArray1};
use pyo3::prelude::*;
use simcore::{ConnectOptions, Rule};

use crate::error::{IntoPyResult, UnsupportedError};
use crate::utils::{detached, slice};

type U32Array<'py> = Bound<'py, PyArray1<u32>>;

/// Synapses between `n_pre` sources and `n_post` targets (CSR, by source). Consumed by
/// `Network.connect`.
#[pyclass(module = "simcore._native")]
pub struct Connectivity {
    inner: Option<simcore::Connectivity>,
}

impl Connectivity {
    /// Takes the synapses out (a connectivity connects once).
    pub fn take(&mut self) -> PyResult<simcore::Connectivity> {
        self.inner
            .take()
            .ok_or_else(|| UnsupportedError::new_err("this connectivity was already connected"))
    }

    fn get(&self) -> PyResult<&simcore::Connectivity> {
        self.inner
            .as_ref()
            .ok_or_else(|| UnsupportedError::new_err("this connectivity was already connected"))
    }
}

#[pymethods]
impl Connectivity {
    /// Generates the synapses of `rule` (`all_to_all`, `one_to_one`, `fixed_probability` with
    /// `p`, `fixed_indegree` / `fixed_outdegree` with `k`) from a seed; same seed, same
    /// synapses on every machine.
    #[staticmethod]
    #[pyo3(signature = (rule, n_pre, n_post, *, p=None, k=None, allow_self=false, allow_multapses=false, seed=0))]
    #[allow(clippy::too_many_arguments)]
    fn generate(
        py: Python<'_>,
        rule: &str,
        n_pre: usize,
        n_post: usize,
        p: Option<f64>,
        k: Option<usize>,
        allow_self: bool,
        allow_multapses: bool,
        seed: u64,
    ) -> PyResult<Self> {
        let missing =
            |what: &str| simcore::SimError::invalid(rule.to_string(), format!("needs {what}"));
        let rule = match rule {
            "all_to_all" => Rule::AllToAll,
            "one_to_one" => Rule::OneToOne,
            "fixed_probability" => Rule::FixedProbability {
                p: p.ok_or_else(|| missing("a probability p")).py()?,
            },
            "fixed_indegree" => Rule::FixedInDegree {
                k: k.ok_or_else(|| missing("a count k")).py()?,
            },
            "fixed_outdegree" => Rule::FixedOutDegree {
                k: k.ok_or_else(|| missing("a count k")).py()?,
            },
            other => {
                return Err(simcore::SimError::invalid(
                    "rule",
                    format!(
                        "unknown rule {other:?} (known: all_to_all, one_to_one, \
                         fixed_probability, fixed_indegree, fixed_outdegree)"
                    ),
                ))
                .py()
            }
        };
        let options = ConnectOptions {
            allow_self,
            allow_multapses,
            seed,
        };
        let inner = detached(py, || {
            simcore::Connectivity::generate(&rule, n_pre, n_post, options)
        })?
        .py()?;
        Ok(Connectivity { inner: Some(inner) })
    }

    /// Exactly the synapses `pre[s] -> post[s]` (per-synapse weights and delays given later
    /// follow this order).
    #[staticmethod]
    fn from_lists(
        n_pre: usize,
        n_post: usize,
        pre: PyReadonlyArray1<'_, u32>,
        post: PyReadonlyArray1<'_, u32>,
    ) -> PyResult<Self> {
        let inner =
            simcore::Connectivity::from_lists(n_pre, n_post, slice(&pre)?, slice(&post)?).py()?;
        Ok(Connectivity { inner: Some(inner) })
    }

    /// One table for several blocks of synapses (each consumed), placed in an `n_pre x n_post`
    /// matrix by `(connectivity, pre_offset, post_offset)`: populations built as one. Blocks
    /// that share sources must not share targets; per-synapse values of a stack of several
    /// blocks follow its own order (`to_lists`), of one block that block's.
    #[staticmethod]
    fn stack(
        py: Python<'_>,
        n_pre: usize,
        n_post: usize,
        blocks: Vec<(Bound<'_, Connectivity>, usize, usize)>,
    ) -> PyResult<Self> {
        let blocks = blocks
            .iter()
            .map(|(synapses, pre_offset, post_offset)| {
                Ok(simcore::Block {
                    synapses: synapses.borrow_mut().take()?,
                    pre_offset: *pre_offset,
                    post_offset: *post_offset,
                })
            })
            .collect::<PyResult<Vec<_>>>()?;
        let inner = detached(py, || simcore::Connectivity::stack(n_pre, n_post, blocks))?.py()?;
        Ok(Connectivity { inner: Some(inner) })
    }

    /// Number of sources.
    #[getter]
    fn n_pre(&self) -> PyResult<usize> {
        Ok(self.get()?.n_pre())
    }

    /// Number of targets.
    #[getter]
    fn n_post(&self) -> PyResult<usize> {
        Ok(self.get()?.n_post())
    }

    /// Number of synapses.
    #[getter]
    fn n_synapses(&self) -> PyResult<usize> {
        Ok(self.get()?.n_synapses())
    }

    /// The synapses as `(pre, post)` arrays, in the order per-synapse values are given.
    fn to_lists<'py>(&self, py: Python<'py>) -> PyResult<(U32Array<'py>, U32Array<'py>)> {
        let conn = self.get()?;
        let (mut pre, mut post) = conn.to_lists();
        if let Some(order) = conn.input_order() {
            // back to the input order
            let mut p = vec![0u32; pre.len()];
            let mut q = vec![0u32; post.len()];
            for (csr, &input) in order.iter().enumerate() {
                p[input] = pre[csr];
                q[input] = post[csr];
            }
            (pre, post) = (p, q);
        }
        Ok((PyArray1::from_vec(py, pre), PyArray1::from_vec(py, post)))
    }
}
