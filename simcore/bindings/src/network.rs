//! `Network`: the engine's [`simcore::Network`] behind a thin Python class, and `Chunk`, what
//! one `run` recorded, as numpy arrays moved out of the engine's vectors without copying.
//!
//! Ids are plain integers (population, generator, projection, current, monitor), as the
//! engine counts them; the Python layer (`simcore/_network.py`) names them after the spec.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use numpy::{PyArray1, PyArray2, PyArrayMethods, PyReadonlyArray1};
use pyo3::prelude::*;
use pyo3::types::PyTuple;
use simcore::{
    AdEx, AdExParams, Bounds, ChunkOutput, CurrentId, GeneratorId, Izhikevich, IzhikevichParams,
    LeakyIntegrator, LeakyIntegratorParams, Lif, LifCond, LifCondParams, LifParams, MonitorId,
    Neuron, Pairing, Param, PopulationId, Precision, ProjectionId, ReceptorId, SimError, Source,
    StdpParams, SynapseKind,
};

use crate::connectivity::Connectivity;
use crate::error::IntoPyResult;
use crate::utils::{detached, slice, DelayArg, ParamArg};

/// Work between two checks for Ctrl-C: a run is split into slices of about this long.
const SLICE: Duration = Duration::from_millis(50);

/// A spiking network advanced in chunks (`dt` in seconds; `threads`: the size of its own
/// thread pool, or None for rayon's global pool). Results do not depend on the thread count.
#[pyclass(module = "simcore._native")]
pub struct Network {
    net: simcore::Network,
    pool: Option<rayon::ThreadPool>,
}

fn source(id: usize, from_generator: bool) -> Source {
    if from_generator {
        Source::Generator(GeneratorId(id))
    } else {
        Source::Population(PopulationId(id))
    }
}

/// Reads model parameters out of a dict, engine defaults for what is missing; any key left
/// over is an error naming the known ones.
struct Params {
    model: &'static str,
    given: HashMap<String, Param>,
    known: Vec<&'static str>,
}

impl Params {
    fn new(model: &'static str, given: HashMap<String, ParamArg<'_>>) -> PyResult<Self> {
        let given = given
            .into_iter()
            .map(|(k, v)| Ok((k, v.to_param()?)))
            .collect::<PyResult<_>>()?;
        Ok(Params {
            model,
            given,
            known: Vec::new(),
        })
    }

    fn take(&mut self, name: &'static str, default: Param) -> Param {
        self.known.push(name);
        self.given.remove(name).unwrap_or(default)
    }

    fn finish(self) -> PyResult<()> {
        match self.given.keys().min() {
            None => Ok(()),
            Some(extra) => Err(SimError::invalid(
                format!("{}.{extra}", self.model),
                format!("no such parameter (it has: {})", self.known.join(", ")),
            ))
            .py(),
        }
    }
}

fn neuron(model: &str, n: usize, params: HashMap<String, ParamArg<'_>>) -> PyResult<Neuron> {
    Ok(match model {
        "lif" => {
            let d = LifParams::default();
            let mut p = Params::new("lif", params)?;
            let params = LifParams {
                tau_m: p.take("tau_m", d.tau_m),
                e_l: p.take("e_l", d.e_l),
                v_reset: p.take("v_reset", d.v_reset),
                v_threshold: p.take("v_threshold", d.v_threshold),
                r_m: p.take("r_m", d.r_m),
                t_ref: p.take("t_ref", d.t_ref),
            };
            p.finish()?;
            Neuron::Lif(Lif::new(n, &params).py()?)
        }
        "lif_cond" => {
            let d = LifCondParams::default();
            let mut p = Params::new("lif_cond", params)?;
            let params = LifCondParams {
                c_m: p.take("c_m", d.c_m),
                g_l: p.take("g_l", d.g_l),
                e_l: p.take("e_l", d.e_l),
                v_reset: p.take("v_reset", d.v_reset),
                v_threshold: p.take("v_threshold", d.v_threshold),
                t_ref: p.take("t_ref", d.t_ref),
            };
            p.finish()?;
            Neuron::LifCond(LifCond::new(n, &params).py()?)
        }
        "adex" => {
            let d = AdExParams::default();
            let mut p = Params::new("adex", params)?;
            let params = AdExParams {
                c_m: p.take("c_m", d.c_m),
                g_l: p.take("g_l", d.g_l),
                e_l: p.take("e_l", d.e_l),
                v_t: p.take("v_t", d.v_t),
                delta_t: p.take("delta_t", d.delta_t),
                a: p.take("a", d.a),
                tau_w: p.take("tau_w", d.tau_w),
                b: p.take("b", d.b),
                v_reset: p.take("v_reset", d.v_reset),
                v_peak: p.take("v_peak", d.v_peak),
                t_ref: p.take("t_ref", d.t_ref),
            };
            p.finish()?;
            Neuron::AdEx(AdEx::new(n, &params).py()?)
        }
        "izhikevich" => {
            let d = IzhikevichParams::default();
            let mut p = Params::new("izhikevich", params)?;
            let params = IzhikevichParams {
                a: p.take("a", d.a),
                b: p.take("b", d.b),
                c: p.take("c", d.c),
                d: p.take("d", d.d),
                v_peak: p.take("v_peak", d.v_peak),
                c_m: p.take("c_m", d.c_m),
                k2: p.take("k2", d.k2),
                k1: p.take("k1", d.k1),
                k0: p.take("k0", d.k0),
                t_ref: p.take("t_ref", d.t_ref),
            };
            p.finish()?;
            Neuron::Izhikevich(Izhikevich::new(n, &params).py()?)
        }
        "leaky_integrator" => {
            let d = LeakyIntegratorParams::default();
            let mut p = Params::new("leaky_integrator", params)?;
            let params = LeakyIntegratorParams {
                tau_m: p.take("tau_m", d.tau_m),
                e_l: p.take("e_l", d.e_l),
                r_m: p.take("r_m", d.r_m),
            };
            p.finish()?;
            Neuron::LeakyIntegrator(LeakyIntegrator::new(n, &params).py()?)
        }
        other => {
            return Err(SimError::invalid(
                "model",
                format!(
                    "unknown neuron model {other:?} (known: lif, lif_cond, adex, izhikevich, \
                     leaky_integrator)"
                ),
            ))
            .py()
        }
    })
}

fn synapse(kind: &str, tau: Option<f64>, e_rev: Option<f64>) -> PyResult<SynapseKind> {
    let need = |x: Option<f64>, what: &str| {
        x.ok_or_else(|| SimError::invalid(kind.to_string(), format!("needs {what}")))
            .py()
    };
    Ok(match kind {
        "delta" => SynapseKind::Delta,
        "exp_current" => SynapseKind::ExpCurrent {
            tau: need(tau, "tau")?,
        },
        "alpha_current" => SynapseKind::AlphaCurrent {
            tau: need(tau, "tau")?,
        },
        "exp_conductance" => SynapseKind::ExpConductance {
            tau: need(tau, "tau")?,
            e_rev: need(e_rev, "e_rev")?,
        },
        "alpha_conductance" => SynapseKind::AlphaConductance {
            tau: need(tau, "tau")?,
            e_rev: need(e_rev, "e_rev")?,
        },
        other => {
            return Err(SimError::invalid(
                "synapse",
                format!(
                    "unknown synapse kind {other:?} (known: delta, exp_current, \
                     exp_conductance, alpha_current, alpha_conductance)"
                ),
            ))
            .py()
        }
    })
}

#[pymethods]
impl Network {
    #[new]
    #[pyo3(signature = (dt, threads=None, precision="float64"))]
    fn new(dt: f64, threads: Option<usize>, precision: &str) -> PyResult<Self> {
        let mut net = simcore::Network::new(dt).py()?;
        net.set_precision(match precision {
            "float64" => Precision::F64,
            "float32" => Precision::F32,
            other => {
                return Err(SimError::invalid(
                    "precision",
                    format!("must be \"float64\" or \"float32\", got {other:?}"),
                ))
                .py()
            }
        });
        let pool = match threads {
            None => None,
            Some(0) => {
                return Err(SimError::invalid("threads", "must be >= 1")).py();
            }
            Some(n) => Some(
                rayon::ThreadPoolBuilder::new()
                    .num_threads(n)
                    .thread_name(|i| format!("simcore-{i}"))
                    .build()
                    .map_err(|e| {
                        pyo3::exceptions::PyRuntimeError::new_err(format!(
                            "could not start {n} threads: {e}"
                        ))
                    })?,
            ),
        };
        Ok(Network { net, pool })
    }

    /// Time step (s).
    #[getter]
    fn dt(&self) -> f64 {
        self.net.dt()
    }

    /// The precision asked for (`"float64"` or `"float32"`).
    #[getter]
    fn precision(&self) -> &'static str {
        self.net.precision().name()
    }

    /// The precision population `population` runs in (`"float32"` only where its model has a
    /// single-precision kernel; known once the network has run or been prepared).
    fn population_precision(&self, population: usize) -> PyResult<&'static str> {
        Ok(self
            .net
            .population(PopulationId(population))
            .py()?
            .precision()
            .name())
    }

    /// Steps run so far (the next step to run).
    #[getter]
    fn step(&self) -> u64 {
        self.net.step()
    }

    /// Synaptic events delivered since the start.
    #[getter]
    fn synaptic_events(&self) -> u64 {
        self.net.synaptic_events()
    }

    /// Threads the network runs on.
    #[getter]
    fn threads(&self) -> usize {
        match &self.pool {
            Some(pool) => pool.current_num_threads(),
            None => rayon::current_num_threads(),
        }
    }

    /// Adds `n` neurons of `model` (`lif`, `lif_cond`, `adex`, `izhikevich`,
    /// `leaky_integrator`) with parameters by engine name in SI units (floats or one value
    /// per neuron); missing ones take the engine's defaults. Returns the population id.
    #[pyo3(signature = (name, model, n, params=None))]
    fn add_population(
        &mut self,
        name: &str,
        model: &str,
        n: usize,
        params: Option<HashMap<String, ParamArg<'_>>>,
    ) -> PyResult<usize> {
        let model = neuron(model, n, params.unwrap_or_default())?;
        Ok(self.net.add_population(name, model).py()?.0)
    }

    /// Adds a receptor `name` of `kind` (`delta`, `exp_current`, `exp_conductance`,
    /// `alpha_current`, `alpha_conductance`; `tau` in s, `e_rev` in V) to a population.
    /// Returns its index in the population.
    #[pyo3(signature = (population, name, kind, tau=None, e_rev=None))]
    fn add_receptor(
        &mut self,
        population: usize,
        name: &str,
        kind: &str,
        tau: Option<f64>,
        e_rev: Option<f64>,
    ) -> PyResult<usize> {
        let kind = synapse(kind, tau, e_rev)?;
        Ok(self
            .net
            .add_receptor(PopulationId(population), name, kind)
            .py()?
            .index)
    }

    /// Names of a population's state variables (the model's, then its receptors').
    fn state_names(&self, population: usize) -> PyResult<Vec<String>> {
        Ok(self
            .net
            .population(PopulationId(population))
            .py()?
            .state_names())
    }

    /// Number of neurons of a population.
    fn population_size(&self, population: usize) -> PyResult<usize> {
        Ok(self.net.population(PopulationId(population)).py()?.len())
    }

    /// Adds `n` Poisson spike trains at `rates` (Hz). Returns the generator id.
    fn add_poisson(&mut self, n: usize, rates: ParamArg<'_>, seed: u64) -> PyResult<usize> {
        Ok(self.net.add_poisson(n, &rates.to_param()?, seed).py()?.0)
    }

    /// Adds `n` outputs, output `neurons[k]` spiking at step `steps[k]`. Returns the
    /// generator id.
    fn add_spike_times(
        &mut self,
        n: usize,
        neurons: PyReadonlyArray1<'_, u32>,
        steps: PyReadonlyArray1<'_, u64>,
    ) -> PyResult<usize> {
        Ok(self
            .net
            .add_spike_times(n, slice(&neurons)?, slice(&steps)?)
            .py()?
            .0)
    }

    /// Injects `amps[k]` amperes from step `steps[k]` on (0 before the first) into `neurons`
    /// of a population (all if None). Returns the current id.
    #[pyo3(signature = (population, steps, amps, neurons=None))]
    fn add_current(
        &mut self,
        population: usize,
        steps: PyReadonlyArray1<'_, u64>,
        amps: PyReadonlyArray1<'_, f64>,
        neurons: Option<PyReadonlyArray1<'_, u32>>,
    ) -> PyResult<usize> {
        let (steps, amps) = (slice(&steps)?, slice(&amps)?);
        if steps.len() != amps.len() {
            return Err(SimError::length(
                "current amplitudes",
                steps.len(),
                amps.len(),
            ))
            .py();
        }
        let neurons = match &neurons {
            Some(a) => Some(slice(a)?.to_vec()),
            None => None,
        };
        let schedule = steps.iter().copied().zip(amps.iter().copied()).collect();
        Ok(self
            .net
            .add_current(PopulationId(population), neurons, schedule)
            .py()?
            .0)
    }

    /// Connects a source (population, or generator with `from_generator`) to receptor
    /// `receptor` of population `target` through `connectivity` (consumed). `weights`: one
    /// float or one per synapse (the receptor's SI unit); `delays`: steps, one or per synapse.
    /// Returns the projection id.
    #[pyo3(signature = (source, target, receptor, connectivity, weights, delays, *, from_generator=false))]
    #[allow(clippy::too_many_arguments)]
    fn connect(
        &mut self,
        py: Python<'_>,
        source: usize,
        target: usize,
        receptor: usize,
        connectivity: &Bound<'_, Connectivity>,
        weights: ParamArg<'_>,
        delays: DelayArg<'_>,
        from_generator: bool,
    ) -> PyResult<usize> {
        let conn = connectivity.borrow_mut().take()?;
        let (weights, delays) = (weights.to_param()?, delays.to_delays()?);
        let target = ReceptorId {
            population: PopulationId(target),
            index: receptor,
        };
        let src = self::source(source, from_generator);
        let net = &mut self.net;
        let id = detached(py, || {
            net.connect_with(src, target, conn, &weights, &delays)
        })?
        .py()?;
        Ok(id.0)
    }

    /// Number of synapses of a projection.
    fn n_synapses(&self, projection: usize) -> PyResult<usize> {
        Ok(self
            .net
            .projection(ProjectionId(projection))
            .py()?
            .n_synapses())
    }

    /// Bytes held by a projection's synapse tables.
    fn projection_bytes(&self, projection: usize) -> PyResult<usize> {
        Ok(self
            .net
            .projection(ProjectionId(projection))
            .py()?
            .memory_bytes())
    }

    /// A projection's synapses `(pre, post, delay steps, weight)`, in the engine's order.
    #[allow(clippy::type_complexity)]
    fn synapses<'py>(
        &self,
        py: Python<'py>,
        projection: usize,
    ) -> PyResult<(
        Bound<'py, PyArray1<u32>>,
        Bound<'py, PyArray1<u32>>,
        Bound<'py, PyArray1<u32>>,
        Bound<'py, PyArray1<f64>>,
    )> {
        let p = self.net.projection(ProjectionId(projection)).py()?;
        let (pre, post, delay) = p.synapses();
        Ok((
            PyArray1::from_vec(py, pre),
            PyArray1::from_vec(py, post),
            PyArray1::from_vec(py, delay),
            PyArray1::from_slice(py, &p.weights()),
        ))
    }

    /// Makes a projection plastic (pair-based STDP; times in s, amplitudes and bounds in the
    /// weight unit, or dimensionless amplitudes when `multiplicative`).
    #[pyo3(signature = (projection, tau_pre, tau_post, a_plus, a_minus, w_min, w_max, *, multiplicative=false, nearest=false))]
    #[allow(clippy::too_many_arguments)]
    fn enable_stdp(
        &mut self,
        projection: usize,
        tau_pre: f64,
        tau_post: f64,
        a_plus: f64,
        a_minus: f64,
        w_min: f64,
        w_max: f64,
        multiplicative: bool,
        nearest: bool,
    ) -> PyResult<()> {
        let params = StdpParams {
            tau_pre,
            tau_post,
            a_plus,
            a_minus,
            w_min,
            w_max,
            bounds: if multiplicative {
                Bounds::Multiplicative
            } else {
                Bounds::Additive
            },
            pairing: if nearest {
                Pairing::Nearest
            } else {
                Pairing::AllToAll
            },
        };
        self.net.enable_stdp(ProjectionId(projection), params).py()
    }

    /// Records the spikes of a source (all outputs, or `neurons`). Returns the monitor id.
    #[pyo3(signature = (source, neurons=None, *, from_generator=false))]
    fn add_spike_monitor(
        &mut self,
        source: usize,
        neurons: Option<PyReadonlyArray1<'_, u32>>,
        from_generator: bool,
    ) -> PyResult<usize> {
        let neurons = match &neurons {
            Some(a) => Some(slice(a)?),
            None => None,
        };
        Ok(self
            .net
            .add_spike_monitor(self::source(source, from_generator), neurons)
            .py()?
            .0)
    }

    /// Samples `variable` of `neurons` of a population every `every` steps. Returns the
    /// monitor id.
    fn add_state_monitor(
        &mut self,
        population: usize,
        variable: &str,
        neurons: PyReadonlyArray1<'_, u32>,
        every: u64,
    ) -> PyResult<usize> {
        Ok(self
            .net
            .add_state_monitor(PopulationId(population), variable, slice(&neurons)?, every)
            .py()?
            .0)
    }

    /// Records the rate of a source (or of its neurons `neurons = (start, stop)`) in bins of
    /// `bin` steps. Returns the monitor id.
    #[pyo3(signature = (source, bin, *, neurons=None, from_generator=false))]
    fn add_rate_monitor(
        &mut self,
        source: usize,
        bin: u64,
        neurons: Option<(u32, u32)>,
        from_generator: bool,
    ) -> PyResult<usize> {
        Ok(self
            .net
            .add_rate_monitor(
                self::source(source, from_generator),
                neurons.map(|(start, stop)| start..stop),
                bin,
            )
            .py()?
            .0)
    }

    /// Values of a state variable of a population, one per neuron (SI).
    fn state<'py>(
        &self,
        py: Python<'py>,
        population: usize,
        name: &str,
    ) -> PyResult<Bound<'py, PyArray1<f64>>> {
        let values = self.net.state(PopulationId(population), name).py()?;
        Ok(PyArray1::from_vec(py, values))
    }

    /// Sets a state variable of a population (one float, or one per neuron; SI).
    fn set_state(&mut self, population: usize, name: &str, values: ParamArg<'_>) -> PyResult<()> {
        self.net
            .set_state(PopulationId(population), name, &values.to_param()?)
            .py()
    }

    /// New rates (Hz) of a Poisson generator, from the next step run.
    fn set_poisson_rates(&mut self, generator: usize, rates: ParamArg<'_>) -> PyResult<()> {
        self.net
            .set_poisson_rates(GeneratorId(generator), &rates.to_param()?)
            .py()
    }

    /// New weight scale of a projection, from the next step run.
    fn set_weight_scale(&mut self, projection: usize, scale: f64) -> PyResult<()> {
        self.net
            .set_weight_scale(ProjectionId(projection), scale)
            .py()
    }

    /// Gives a projection's synapses from sources `pre = (start, stop)` onto targets `post`
    /// the weight `weight` (SI): one of the projections sharing its table changes weight.
    fn set_block_weight(
        &mut self,
        projection: usize,
        pre: (usize, usize),
        post: (usize, usize),
        weight: f64,
    ) -> PyResult<()> {
        self.net
            .set_block_weight(
                ProjectionId(projection),
                pre.0..pre.1,
                post.0..post.1,
                weight,
            )
            .py()
    }

    /// New constant amplitude (A) of an injected current, from the next step run.
    fn set_current_amplitude(&mut self, current: usize, amps: f64) -> PyResult<()> {
        self.net
            .set_current_amplitude(CurrentId(current), amps)
            .py()
    }

    /// Checks the network and precomputes what running needs (errors surface here).
    fn prepare(&mut self, py: Python<'_>) -> PyResult<()> {
        let net = &mut self.net;
        detached(py, || net.prepare())?.py()
    }

    /// Advances `steps` steps with the GIL released (checking for Ctrl-C every ~50 ms) and
    /// returns what the monitors recorded.
    fn run(&mut self, py: Python<'_>, steps: u64) -> PyResult<Chunk> {
        let (net, pool) = (&mut self.net, &self.pool);
        let mut out: Option<ChunkOutput> = None;
        let mut slice_steps: u64 = 10;
        let mut done = 0;
        while done < steps || out.is_none() {
            let n = slice_steps.min(steps - done);
            let started = Instant::now();
            let chunk = detached(py, || match pool {
                Some(pool) => pool.install(|| net.run(n)),
                None => net.run(n),
            })?
            .py()?;
            done += n;
            // grow the slices while they are short, so small networks pay nothing
            if started.elapsed() < SLICE / 2 {
                slice_steps = slice_steps.saturating_mul(2);
            }
            match &mut out {
                Some(o) => o.append(chunk),
                None => out = Some(chunk),
            }
        }
        let out = out.unwrap_or_default();
        Chunk::new(py, out)
    }
}

/// What the monitors recorded during one run `[start_step, end_step)`. Per monitor id:
/// `spikes`: (neurons u32, steps u64); `states`: (steps u64, values f64 of shape
/// steps x neurons); `rates`: (bin start steps u64, rates Hz f64).
#[pyclass(module = "simcore._native", frozen)]
pub struct Chunk {
    #[pyo3(get)]
    start_step: u64,
    #[pyo3(get)]
    end_step: u64,
    #[pyo3(get)]
    synaptic_events: u64,
    spikes: Py<PyTuple>,
    states: Py<PyTuple>,
    rates: Py<PyTuple>,
}

impl Chunk {
    fn new(py: Python<'_>, out: ChunkOutput) -> PyResult<Self> {
        let spikes = out
            .spikes
            .into_iter()
            .map(|s| {
                (
                    monitor(s.monitor),
                    PyArray1::from_vec(py, s.neurons),
                    PyArray1::from_vec(py, s.steps),
                )
            })
            .collect::<Vec<_>>();
        let states = out
            .states
            .into_iter()
            .map(|s| {
                let (rows, cols) = (s.steps.len(), s.neurons.len());
                let values: Bound<'_, PyArray2<f64>> =
                    PyArray1::from_vec(py, s.values).reshape([rows, cols])?;
                Ok((monitor(s.monitor), PyArray1::from_vec(py, s.steps), values))
            })
            .collect::<PyResult<Vec<_>>>()?;
        let rates = out
            .rates
            .into_iter()
            .map(|r| {
                (
                    monitor(r.monitor),
                    PyArray1::from_vec(py, r.steps),
                    PyArray1::from_vec(py, r.rates),
                )
            })
            .collect::<Vec<_>>();
        Ok(Chunk {
            start_step: out.start_step,
            end_step: out.end_step,
            synaptic_events: out.synaptic_events,
            spikes: PyTuple::new(py, spikes)?.unbind(),
            states: PyTuple::new(py, states)?.unbind(),
            rates: PyTuple::new(py, rates)?.unbind(),
        })
    }
}

fn monitor(id: MonitorId) -> usize {
    id.0
}

#[pymethods]
impl Chunk {
    /// `(monitor id, neurons, steps)` per spike monitor.
    #[getter]
    fn spikes<'py>(&self, py: Python<'py>) -> Bound<'py, PyTuple> {
        self.spikes.bind(py).clone()
    }

    /// `(monitor id, steps, values[steps, neurons])` per state monitor.
    #[getter]
    fn states<'py>(&self, py: Python<'py>) -> Bound<'py, PyTuple> {
        self.states.bind(py).clone()
    }

    /// `(monitor id, bin start steps, rates in Hz)` per rate monitor.
    #[getter]
    fn rates<'py>(&self, py: Python<'py>) -> Bound<'py, PyTuple> {
        self.rates.bind(py).clone()
    }
}
