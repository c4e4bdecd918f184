//! The network: populations, generators, projections, inputs and monitors, advanced in chunks.
//!
//! One time step, in Brian2's order:
//! 1. injected currents take this step's amplitude; state monitors sample (state at `t`);
//! 2. **state update + threshold** of every population (in parallel over blocks), and the
//!    generators emit (threshold phase);
//! 3. **synaptic propagation**: every projection queues its source's new spikes, then each
//!    population receives what is due now (delay 0 = this step) from its projections in
//!    order, in parallel over ranges of its blocks; then plastic projections see the spikes;
//! 4. **reset** of the neurons that spiked;
//! 5. spike and rate monitors record.
//!
//! [`Network::run`] advances `n` steps and returns what the monitors recorded since the last
//! chunk. Parameter changes ([`Change`]) made between chunks apply from the next step run.

use crate::connectivity::{ConnectOptions, Connectivity, Rule};
use crate::error::{Result, SimError};
use crate::inputs::{CurrentInput, Generator, PoissonGroup, SpikeTimes};
use crate::monitors::{
    ChunkOutput, Monitor, RateData, RateMonitor, Selection, SpikeData, SpikeMonitor, StateData,
    StateMonitor, VarRef,
};
use crate::neurons::{Neuron, NeuronModel, Voltage};
use crate::params::{Param, PerNeuron, Precision};
use crate::plasticity::StdpParams;
use crate::synapses::projection::{Delays, Part, Projection};
use crate::synapses::{Receptor, Receptors, State, SynapseKind, BLOCK};
use rayon::prelude::*;

/// A population of the network.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct PopulationId(pub usize);
/// A spike generator of the network.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct GeneratorId(pub usize);
/// A projection of the network.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct ProjectionId(pub usize);
/// An injected current of the network.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct CurrentId(pub usize);
/// A monitor of the network (ids are shared by all kinds of monitor).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct MonitorId(pub usize);

/// A receptor: population and index within it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct ReceptorId {
    /// The population.
    pub population: PopulationId,
    /// Index of the receptor in the population (order added).
    pub index: usize,
}

/// Where spikes come from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Source {
    /// A population of neurons.
    Population(PopulationId),
    /// A spike generator.
    Generator(GeneratorId),
}

impl From<PopulationId> for Source {
    fn from(id: PopulationId) -> Self {
        Source::Population(id)
    }
}

impl From<GeneratorId> for Source {
    fn from(id: GeneratorId) -> Self {
        Source::Generator(id)
    }
}

/// A parameter change, applied from the next step run.
#[derive(Debug, Clone, PartialEq)]
pub enum Change {
    /// New rates (Hz) of a Poisson generator.
    PoissonRates {
        /// The generator.
        generator: GeneratorId,
        /// Rate(s) in Hz.
        rates: Param,
    },
    /// New weight scale of a projection (weights are multiplied by it at delivery).
    WeightScale {
        /// The projection.
        projection: ProjectionId,
        /// The factor.
        scale: f64,
    },
    /// New constant amplitude (A) of an injected current, replacing its remaining schedule.
    CurrentAmplitude {
        /// The current.
        current: CurrentId,
        /// Amperes.
        amps: f64,
    },
}

/// A population: a neuron model, its receptors and its external current.
#[derive(Debug, Clone)]
pub struct Population {
    name: String,
    model: Neuron,
    receptors: Receptors,
    i_ext: PerNeuron,
    block_spikes: Vec<Vec<u32>>,
}

impl Population {
    /// Its name.
    pub fn name(&self) -> &str {
        &self.name
    }
    /// Number of neurons.
    pub fn len(&self) -> usize {
        self.model.len()
    }
    /// Whether it has no neurons.
    pub fn is_empty(&self) -> bool {
        self.model.is_empty()
    }
    /// Its neuron model.
    pub fn model(&self) -> &Neuron {
        &self.model
    }
    /// Its receptors.
    pub fn receptors(&self) -> &Receptors {
        &self.receptors
    }
    /// The precision its state is held in (known once the network is prepared).
    pub fn precision(&self) -> Precision {
        self.model.precision()
    }
    /// Names of every state variable: the model's, then the receptors'.
    pub fn state_names(&self) -> Vec<String> {
        let mut names: Vec<String> = self
            .model
            .state_names()
            .iter()
            .map(|s| s.to_string())
            .collect();
        names.extend(self.receptors.state_names());
        names
    }
    fn var(&self, name: &str) -> Result<VarRef> {
        if let Some(i) = self.model.var_index(name) {
            return Ok(VarRef::Model(i));
        }
        if let Some(row) = self.receptors.row_of(name) {
            return Ok(VarRef::Receptor(row));
        }
        Err(SimError::UnknownVariable {
            owner: format!("population {:?} ({})", self.name, self.model.kind()),
            name: name.to_string(),
            available: self.state_names(),
        })
    }
    #[inline]
    fn read(&self, var: VarRef, j: usize) -> f64 {
        match var {
            VarRef::Model(i) => self.model.value(i, j),
            VarRef::Receptor(row) => self.receptors.get(row, j),
        }
    }
}

#[derive(Debug, Clone)]
struct Wiring {
    source: Source,
    target: PopulationId,
    projection: Projection,
}

/// A spiking network advanced in chunks of steps.
#[derive(Debug, Clone)]
pub struct Network {
    dt: f64,
    precision: Precision,
    step: u64,
    prepared: bool,
    populations: Vec<Population>,
    pop_spikes: Vec<Vec<u32>>,
    generators: Vec<Generator>,
    gen_spikes: Vec<Vec<u32>>,
    wiring: Vec<Wiring>,
    currents: Vec<CurrentInput>,
    monitors: Vec<Monitor>,
    events: u64,
    dirty_currents: Vec<bool>,
}

/// A range of whole blocks of a population that receives spikes, at its precision.
enum Range<'a> {
    F64(Part<'a, f64>),
    F32(Part<'a, f32>),
}

/// What one thread delivers into one population: a range of its blocks.
struct Target<'a> {
    population: usize,
    receptors: &'a [Receptor],
    range: Range<'a>,
}

/// Delivers the spikes due at step `t` into `target` from the projections onto its population,
/// in their order (see [`Projection::deliver_part`]: the result does not depend on the ranges);
/// returns the synaptic events when the range is its population's first.
fn deliver_into(wiring: &[Wiring], t: u64, target: Target<'_>) -> u64 {
    let Target {
        population,
        receptors,
        mut range,
    } = target;
    let mut events = 0;
    for w in wiring.iter().filter(|w| w.target.0 == population) {
        let due = w.projection.due(t);
        if due.is_empty() {
            continue;
        }
        let sink = receptors[w.projection.receptor].sink();
        events += match &mut range {
            Range::F64(part) => w.projection.deliver_part(due, sink, part.reborrow()),
            Range::F32(part) => w.projection.deliver_part(due, sink, part.reborrow()),
        };
    }
    events
}

/// Cuts a population's state into the ranges of blocks it is updated in on `threads` threads
/// (see [`crate::neurons::pieces`]) and hands range `k` to `out[k]`, which it adds when
/// missing (`range` says the precision).
fn cut<'a, T>(
    population: usize,
    receptors: &'a [Receptor],
    (mut rec, mut v): (&'a mut [T], &'a mut [T]),
    block_len: usize,
    threads: usize,
    out: &mut Vec<Vec<Target<'a>>>,
    range: fn(Part<'a, T>) -> Range<'a>,
) {
    let pieces = crate::neurons::pieces(v.len().div_ceil(BLOCK), threads);
    if out.len() < pieces.len() {
        out.resize_with(pieces.len(), Vec::new);
    }
    for (k, blocks) in pieces.into_iter().enumerate() {
        let lo = blocks.start * BLOCK;
        let hi = (blocks.end * BLOCK).min(lo + v.len());
        let (part_rec, rest_rec) = rec.split_at_mut((blocks.len() * block_len).min(rec.len()));
        let (part_v, rest_v) = v.split_at_mut(hi - lo);
        (rec, v) = (rest_rec, rest_v);
        let part = Part {
            lo,
            hi,
            rec: part_rec,
            v: part_v,
            block_len,
        };
        out[k].push(Target {
            population,
            receptors,
            range: range(part),
        });
    }
}

impl Network {
    /// An empty network with time step `dt` (s).
    pub fn new(dt: f64) -> Result<Self> {
        crate::error::positive("dt", dt)?;
        Ok(Network {
            dt,
            precision: Precision::F64,
            step: 0,
            prepared: false,
            populations: Vec::new(),
            pop_spikes: Vec::new(),
            generators: Vec::new(),
            gen_spikes: Vec::new(),
            wiring: Vec::new(),
            currents: Vec::new(),
            monitors: Vec::new(),
            events: 0,
            dirty_currents: Vec::new(),
        })
    }

    /// Time step (s).
    pub fn dt(&self) -> f64 {
        self.dt
    }

    /// The precision asked for with [`Network::set_precision`] (`F64` by default).
    pub fn precision(&self) -> Precision {
        self.precision
    }

    /// Chooses the precision of the state (from the next step run). `F32` applies to the
    /// populations whose model has a single-precision kernel: current-based LIF with uniform
    /// membrane parameters and at most two exponential-current receptors (delta receptors
    /// too); the others stay in `F64` ([`Population::precision`] tells).
    pub fn set_precision(&mut self, precision: Precision) {
        if precision != self.precision {
            self.precision = precision;
            self.prepared = false;
        }
    }

    /// Steps run so far (the next step to run).
    pub fn step(&self) -> u64 {
        self.step
    }

    /// Biological time reached (s).
    pub fn time(&self) -> f64 {
        self.step as f64 * self.dt
    }

    /// Synaptic events delivered since the start.
    pub fn synaptic_events(&self) -> u64 {
        self.events
    }

    // ---------------------------------------------------------------- building

    /// Adds a population (names must be unique).
    pub fn add_population(&mut self, name: &str, model: Neuron) -> Result<PopulationId> {
        if self.populations.iter().any(|p| p.name == name) {
            return Err(SimError::invalid(
                format!("population {name:?}"),
                "a population of this name already exists",
            ));
        }
        let n = model.len();
        self.populations.push(Population {
            name: name.to_string(),
            receptors: Receptors::new(n),
            model,
            i_ext: PerNeuron::Uniform(0.0),
            block_spikes: vec![Vec::new(); n.div_ceil(BLOCK)],
        });
        self.pop_spikes.push(Vec::new());
        self.dirty_currents.push(true);
        self.prepared = false;
        Ok(PopulationId(self.populations.len() - 1))
    }

    /// Id of the population called `name`.
    pub fn population_id(&self, name: &str) -> Option<PopulationId> {
        self.populations
            .iter()
            .position(|p| p.name == name)
            .map(PopulationId)
    }

    /// Adds a receptor (synaptic input channel) to a population.
    pub fn add_receptor(
        &mut self,
        population: PopulationId,
        name: &str,
        kind: SynapseKind,
    ) -> Result<ReceptorId> {
        let pop = self.pop_mut(population)?;
        pop.model.accepts(&kind)?;
        let index = pop.receptors.add(name, kind)?;
        self.prepared = false;
        Ok(ReceptorId { population, index })
    }

    /// Id of receptor `name` of a population.
    pub fn receptor_id(&self, population: PopulationId, name: &str) -> Result<ReceptorId> {
        let pop = self.pop(population)?;
        pop.receptors
            .find(name)
            .map(|index| ReceptorId { population, index })
            .ok_or_else(|| {
                SimError::invalid(
                    format!("receptor {name:?}"),
                    format!("population {:?} has no such receptor", pop.name),
                )
            })
    }

    /// Adds `n` Poisson spike trains at `rates` (Hz).
    pub fn add_poisson(&mut self, n: usize, rates: &Param, seed: u64) -> Result<GeneratorId> {
        self.add_generator(Generator::Poisson(PoissonGroup::new(n, rates, seed)?))
    }

    /// Adds `n` outputs spiking at given steps (`neurons[k]` at `steps[k]`).
    pub fn add_spike_times(
        &mut self,
        n: usize,
        neurons: &[u32],
        steps: &[u64],
    ) -> Result<GeneratorId> {
        self.add_generator(Generator::SpikeTimes(SpikeTimes::new(n, neurons, steps)?))
    }

    fn add_generator(&mut self, generator: Generator) -> Result<GeneratorId> {
        self.generators.push(generator);
        self.gen_spikes.push(Vec::new());
        self.prepared = false;
        Ok(GeneratorId(self.generators.len() - 1))
    }

    /// Connects `source` to receptor `target` by `rule`. Self-connections are only excluded
    /// (unless `options.allow_self`) when source and target are the same population.
    /// `weights` and `delays` are scalars or per synapse (see [`Projection::new`]).
    pub fn connect(
        &mut self,
        source: Source,
        target: ReceptorId,
        rule: &Rule,
        options: ConnectOptions,
        weights: &Param,
        delays: &Delays,
    ) -> Result<ProjectionId> {
        let n_pre = self.source_len(source)?;
        let n_post = self.pop(target.population)?.len();
        let same = source == Source::Population(target.population);
        let options = ConnectOptions {
            allow_self: options.allow_self || !same,
            ..options
        };
        let conn = Connectivity::generate(rule, n_pre, n_post, options)?;
        self.connect_with(source, target, conn, weights, delays)
    }

    /// Connects with a prebuilt [`Connectivity`].
    pub fn connect_with(
        &mut self,
        source: Source,
        target: ReceptorId,
        conn: Connectivity,
        weights: &Param,
        delays: &Delays,
    ) -> Result<ProjectionId> {
        let n_pre = self.source_len(source)?;
        let pop = self.pop(target.population)?;
        if target.index >= pop.receptors.list().len() {
            return Err(SimError::index(
                format!("receptor of population {:?}", pop.name),
                target.index,
                pop.receptors.list().len(),
            ));
        }
        if conn.n_pre() != n_pre || conn.n_post() != pop.len() {
            return Err(SimError::invalid(
                "connectivity",
                format!(
                    "is {}x{} but the source has {} and the target {} neurons",
                    conn.n_pre(),
                    conn.n_post(),
                    n_pre,
                    pop.len()
                ),
            ));
        }
        let projection = Projection::new(conn, target.index, weights, delays)?;
        self.wiring.push(Wiring {
            source,
            target: target.population,
            projection,
        });
        Ok(ProjectionId(self.wiring.len() - 1))
    }

    /// Makes a projection plastic (pair-based STDP). The target must spike.
    pub fn enable_stdp(&mut self, projection: ProjectionId, params: StdpParams) -> Result<()> {
        let dt = self.dt;
        let target = self.wire(projection)?.target;
        if !self.pop(target)?.model.is_spiking() {
            return Err(SimError::Unsupported(
                "STDP onto a population that does not spike".into(),
            ));
        }
        self.wire_mut(projection)?
            .projection
            .enable_stdp(params, dt)
    }

    /// Injects a current following `schedule` (`(first step, amperes)`, ascending; 0 A before
    /// the first entry) into `neurons` of a population (all if `None`).
    pub fn add_current(
        &mut self,
        population: PopulationId,
        neurons: Option<Vec<u32>>,
        schedule: Vec<(u64, f64)>,
    ) -> Result<CurrentId> {
        let n = self.pop(population)?.len();
        if let Some(ns) = &neurons {
            if let Some(&j) = ns.iter().find(|&&j| j as usize >= n) {
                return Err(SimError::index("current target neuron", j as usize, n));
            }
        }
        self.currents
            .push(CurrentInput::new(population.0, neurons, schedule)?);
        self.dirty_currents[population.0] = true;
        Ok(CurrentId(self.currents.len() - 1))
    }

    /// Records the spikes of `source` (all outputs, or only `neurons`).
    pub fn add_spike_monitor(
        &mut self,
        source: Source,
        neurons: Option<&[u32]>,
    ) -> Result<MonitorId> {
        let n = self.source_len(source)?;
        let selection = match neurons {
            None => Selection::All,
            Some(list) => Selection::of(list, n)?,
        };
        let id = MonitorId(self.monitors.len());
        self.monitors.push(Monitor::Spikes(SpikeMonitor {
            source,
            selection,
            data: SpikeData {
                monitor: id,
                ..Default::default()
            },
        }));
        Ok(id)
    }

    /// Samples state variable `variable` of `neurons` of a population every `every` steps.
    pub fn add_state_monitor(
        &mut self,
        population: PopulationId,
        variable: &str,
        neurons: &[u32],
        every: u64,
    ) -> Result<MonitorId> {
        let pop = self.pop(population)?;
        let var = pop.var(variable)?;
        if every == 0 {
            return Err(SimError::invalid(
                "state monitor every",
                "must be >= 1 step",
            ));
        }
        if let Some(&j) = neurons.iter().find(|&&j| j as usize >= pop.len()) {
            return Err(SimError::index("monitored neuron", j as usize, pop.len()));
        }
        let id = MonitorId(self.monitors.len());
        self.monitors.push(Monitor::State(StateMonitor {
            population,
            var,
            every,
            data: StateData {
                monitor: id,
                variable: variable.to_string(),
                neurons: neurons.to_vec(),
                ..Default::default()
            },
        }));
        Ok(id)
    }

    /// Records the population rate of `source`, or of its neurons in `neurons` (a range: part of
    /// a population that runs with others as one), in bins of `bin` steps.
    pub fn add_rate_monitor(
        &mut self,
        source: Source,
        neurons: Option<std::ops::Range<u32>>,
        bin: u64,
    ) -> Result<MonitorId> {
        let all = self.source_len(source)?;
        if bin == 0 {
            return Err(SimError::invalid("rate monitor bin", "must be >= 1 step"));
        }
        let (n, selection) = match neurons {
            Some(r) if r.is_empty() || r.end as usize > all => {
                return Err(SimError::invalid(
                    "rate monitor neurons",
                    format!(
                        "{}..{} is not a range of the source's {all}",
                        r.start, r.end
                    ),
                ))
            }
            Some(r) => (r.len(), Selection::Run(r)),
            None => (all, Selection::All),
        };
        let id = MonitorId(self.monitors.len());
        self.monitors.push(Monitor::Rate(RateMonitor {
            source,
            selection,
            n,
            bin,
            dt: self.dt,
            count: 0,
            filled: 0,
            bin_start: 0,
            data: RateData {
                monitor: id,
                ..Default::default()
            },
        }));
        Ok(id)
    }

    // ---------------------------------------------------------------- access

    /// A population.
    pub fn population(&self, id: PopulationId) -> Result<&Population> {
        self.pop(id)
    }

    /// Number of populations.
    pub fn n_populations(&self) -> usize {
        self.populations.len()
    }

    /// A projection.
    pub fn projection(&self, id: ProjectionId) -> Result<&Projection> {
        Ok(&self.wire(id)?.projection)
    }

    /// Gives the synapses of a projection from sources `pre` onto targets `post` the weight
    /// `weight` (see [`Projection::set_block_weight`]).
    pub fn set_block_weight(
        &mut self,
        id: ProjectionId,
        pre: std::ops::Range<usize>,
        post: std::ops::Range<usize>,
        weight: f64,
    ) -> Result<()> {
        self.wire_mut(id)?
            .projection
            .set_block_weight(pre, post, weight)
    }

    /// Replaces the weights of a projection (engine synapse order).
    pub fn set_weights(&mut self, id: ProjectionId, weights: &[f64]) -> Result<()> {
        self.wire_mut(id)?.projection.set_weights(weights)
    }

    /// A generator.
    pub fn generator(&self, id: GeneratorId) -> Result<&Generator> {
        self.generators.get(id.0).ok_or(SimError::UnknownId {
            kind: "generator",
            id: id.0,
        })
    }

    /// Values of state variable `name` of a population, one per neuron.
    pub fn state(&self, population: PopulationId, name: &str) -> Result<Vec<f64>> {
        let pop = self.pop(population)?;
        Ok(match pop.var(name)? {
            VarRef::Model(i) => pop.model.values(i),
            VarRef::Receptor(row) => pop.receptors.gather(row),
        })
    }

    /// Sets state variable `name` of a population (scalar or one value per neuron).
    pub fn set_state(
        &mut self,
        population: PopulationId,
        name: &str,
        values: &Param,
    ) -> Result<()> {
        let pop = self.pop_mut(population)?;
        let var = pop.var(name)?;
        let n = pop.len();
        let values = values.resolve(name, n, crate::error::finite)?.to_vec(n);
        match var {
            VarRef::Model(i) => pop.model.set_values(i, &values),
            VarRef::Receptor(row) => pop.receptors.scatter(row, &values),
        }
        Ok(())
    }

    // ---------------------------------------------------------------- changes

    /// Applies a parameter change (from the next step run).
    pub fn apply(&mut self, change: Change) -> Result<()> {
        match change {
            Change::PoissonRates { generator, rates } => match self.generators.get_mut(generator.0)
            {
                Some(Generator::Poisson(g)) => g.set_rates(&rates),
                Some(_) => Err(SimError::Unsupported(format!(
                    "generator {} is not a Poisson generator",
                    generator.0
                ))),
                None => Err(SimError::UnknownId {
                    kind: "generator",
                    id: generator.0,
                }),
            },
            Change::WeightScale { projection, scale } => {
                self.wire_mut(projection)?.projection.set_scale(scale)
            }
            Change::CurrentAmplitude { current, amps } => {
                let step = self.step;
                let c = self
                    .currents
                    .get_mut(current.0)
                    .ok_or(SimError::UnknownId {
                        kind: "current",
                        id: current.0,
                    })?;
                c.set_amplitude(step, amps)
            }
        }
    }

    /// Shorthand for [`Change::PoissonRates`].
    pub fn set_poisson_rates(&mut self, generator: GeneratorId, rates: &Param) -> Result<()> {
        self.apply(Change::PoissonRates {
            generator,
            rates: rates.clone(),
        })
    }

    /// Shorthand for [`Change::WeightScale`].
    pub fn set_weight_scale(&mut self, projection: ProjectionId, scale: f64) -> Result<()> {
        self.apply(Change::WeightScale { projection, scale })
    }

    /// Shorthand for [`Change::CurrentAmplitude`].
    pub fn set_current_amplitude(&mut self, current: CurrentId, amps: f64) -> Result<()> {
        self.apply(Change::CurrentAmplitude { current, amps })
    }

    // ---------------------------------------------------------------- running

    /// Precomputes propagators; done by [`Network::run`] when needed, callable to surface
    /// errors (e.g. a Poisson rate above 1/dt) before running.
    pub fn prepare(&mut self) -> Result<()> {
        if self.prepared {
            return Ok(());
        }
        let dt = self.dt;
        for pop in &mut self.populations {
            pop.receptors.prepare(dt);
            pop.model.prepare(dt, &pop.receptors)?;
            let precision = pop.model.set_precision(self.precision);
            pop.receptors.set_precision(precision);
        }
        for g in &mut self.generators {
            g.prepare(dt)?;
        }
        self.prepared = true;
        Ok(())
    }

    /// Advances `steps` steps and returns what the monitors recorded during them. Runs on the
    /// current rayon pool (install a pool to choose the thread count; results do not depend on it).
    pub fn run(&mut self, steps: u64) -> Result<ChunkOutput> {
        self.prepare()?;
        self.fit_cuts(rayon::current_num_threads());
        let start = self.step;
        let events_before = self.events;
        let parallel = self.populations.iter().any(|p| p.len() > BLOCK);
        if parallel {
            // Run the loop on a pool thread, so the per-step parallel sections fork cheaply.
            rayon::scope(|_| {
                for _ in 0..steps {
                    self.step_once();
                }
            });
        } else {
            for _ in 0..steps {
                self.step_once();
            }
        }
        Ok(self.drain(start, self.events - events_before))
    }

    /// Has each projection count its groups' synapses on either side of the middle bound of
    /// the parts its target population is delivered in on `threads` threads (see [`cut`] and
    /// [`Projection::fit_cut`]); once per thread count.
    fn fit_cuts(&mut self, threads: usize) {
        for w in &mut self.wiring {
            let n_blocks = self.populations[w.target.0].len().div_ceil(BLOCK);
            let pieces = crate::neurons::pieces(n_blocks, threads);
            if pieces.len() > 1 {
                w.projection.fit_cut(pieces[pieces.len() / 2].start * BLOCK);
            }
        }
    }

    fn step_once(&mut self) {
        let t = self.step;
        // 1. currents and state sampling
        for c in &mut self.currents {
            if c.advance(t) {
                self.dirty_currents[c.population] = true;
            }
        }
        for p in 0..self.populations.len() {
            if self.dirty_currents[p] {
                self.recompute_current(p);
                self.dirty_currents[p] = false;
            }
        }
        for m in &mut self.monitors {
            if let Monitor::State(sm) = m {
                if t.is_multiple_of(sm.every) {
                    let pop = &self.populations[sm.population.0];
                    sm.data.steps.push(t);
                    for &j in &sm.data.neurons {
                        sm.data.values.push(pop.read(sm.var, j as usize));
                    }
                }
            }
        }
        // 2. state update + threshold; generators
        for (pop, out) in self.populations.iter_mut().zip(&mut self.pop_spikes) {
            for b in &mut pop.block_spikes {
                b.clear();
            }
            pop.model
                .update(t, &mut pop.receptors, &pop.i_ext, &mut pop.block_spikes);
            out.clear();
            for b in &pop.block_spikes {
                out.extend_from_slice(b);
            }
        }
        for (g, out) in self.generators.iter_mut().zip(&mut self.gen_spikes) {
            out.clear();
            g.emit(t, out);
        }
        // 3. synaptic propagation
        for w in &mut self.wiring {
            let spikes = match w.source {
                Source::Population(p) => &self.pop_spikes[p.0],
                Source::Generator(g) => &self.gen_spikes[g.0],
            };
            w.projection.push(t, spikes);
        }
        // Every receiving population cut into the ranges it is updated in, range k of each
        // delivered by one task, all in one parallel section, however few the synapses: each
        // core then adds into the state it updates and holds in its cache. One thread adding
        // into all of it pays a transfer between the cores' caches per state it touches, and
        // the next update pays one back (at 40k CUBA on two threads, 0.27-0.30 s per
        // simulated second against 0.54-0.61 when steps under 4096 synapses were delivered
        // on one thread).
        let threads = rayon::current_num_threads();
        let mut ranges: Vec<Vec<Target<'_>>> = Vec::new();
        for (p, pop) in self.populations.iter_mut().enumerate() {
            let into = |w: &Wiring| w.target.0 == p && !w.projection.due(t).is_empty();
            if !self.wiring.iter().any(into) {
                continue;
            }
            let block_len = pop.receptors.block_len();
            let (list, state) = pop.receptors.split_mut();
            match (state, pop.model.voltage()) {
                (State::F64(rec), Voltage::F64(v)) => cut(
                    p,
                    list,
                    (rec, v),
                    block_len,
                    threads,
                    &mut ranges,
                    Range::F64,
                ),
                (State::F32(rec), Voltage::F32(v)) => cut(
                    p,
                    list,
                    (rec, v),
                    block_len,
                    threads,
                    &mut ranges,
                    Range::F32,
                ),
                _ => unreachable!("a population's state has one precision"),
            }
        }
        let wiring = &self.wiring;
        let deliver = |targets: Vec<Target<'_>>| -> u64 {
            let into = |target| deliver_into(wiring, t, target);
            targets.into_iter().map(into).sum()
        };
        self.events += if ranges.iter().filter(|r| !r.is_empty()).count() > 1 {
            ranges.into_par_iter().map(deliver).sum::<u64>()
        } else {
            ranges.into_iter().map(deliver).sum::<u64>()
        };
        for w in &mut self.wiring {
            w.projection.finish(t);
        }
        for w in &mut self.wiring {
            if w.projection.is_plastic() {
                w.projection.post_spikes(t, &self.pop_spikes[w.target.0]);
            }
        }
        // 4. reset
        for (pop, spikes) in self.populations.iter_mut().zip(&self.pop_spikes) {
            if !spikes.is_empty() {
                pop.model.reset(spikes);
            }
        }
        // 5. spike and rate monitors
        for m in &mut self.monitors {
            match m {
                Monitor::Spikes(sm) => {
                    let spikes = match sm.source {
                        Source::Population(p) => &self.pop_spikes[p.0],
                        Source::Generator(g) => &self.gen_spikes[g.0],
                    };
                    sm.record(t, spikes);
                }
                Monitor::Rate(rm) => {
                    let spikes = match rm.source {
                        Source::Population(p) => &self.pop_spikes[p.0],
                        Source::Generator(g) => &self.gen_spikes[g.0],
                    };
                    rm.record(t, spikes);
                }
                Monitor::State(_) => {}
            }
        }
        self.step += 1;
    }

    fn recompute_current(&mut self, p: usize) {
        let n = self.populations[p].len();
        let inputs: Vec<&CurrentInput> =
            self.currents.iter().filter(|c| c.population == p).collect();
        let i_ext = if inputs.iter().all(|c| c.neurons.is_none()) {
            PerNeuron::Uniform(inputs.iter().map(|c| c.value()).sum())
        } else {
            let mut values = vec![0.0; n];
            for c in inputs {
                match &c.neurons {
                    None => values.iter_mut().for_each(|x| *x += c.value()),
                    Some(ns) => ns.iter().for_each(|&j| values[j as usize] += c.value()),
                }
            }
            PerNeuron::from_values(values)
        };
        self.populations[p].i_ext = i_ext;
    }

    fn drain(&mut self, start: u64, events: u64) -> ChunkOutput {
        let mut out = ChunkOutput {
            start_step: start,
            end_step: self.step,
            synaptic_events: events,
            ..Default::default()
        };
        for m in &mut self.monitors {
            match m {
                Monitor::Spikes(sm) => {
                    let id = sm.data.monitor;
                    out.spikes.push(std::mem::replace(
                        &mut sm.data,
                        SpikeData {
                            monitor: id,
                            ..Default::default()
                        },
                    ));
                }
                Monitor::State(sm) => {
                    let fresh = StateData {
                        monitor: sm.data.monitor,
                        variable: sm.data.variable.clone(),
                        neurons: sm.data.neurons.clone(),
                        ..Default::default()
                    };
                    out.states.push(std::mem::replace(&mut sm.data, fresh));
                }
                Monitor::Rate(rm) => {
                    let id = rm.data.monitor;
                    out.rates.push(std::mem::replace(
                        &mut rm.data,
                        RateData {
                            monitor: id,
                            ..Default::default()
                        },
                    ));
                }
            }
        }
        out
    }

    // ---------------------------------------------------------------- helpers

    fn pop(&self, id: PopulationId) -> Result<&Population> {
        self.populations.get(id.0).ok_or(SimError::UnknownId {
            kind: "population",
            id: id.0,
        })
    }

    fn pop_mut(&mut self, id: PopulationId) -> Result<&mut Population> {
        self.populations.get_mut(id.0).ok_or(SimError::UnknownId {
            kind: "population",
            id: id.0,
        })
    }

    fn wire(&self, id: ProjectionId) -> Result<&Wiring> {
        self.wiring.get(id.0).ok_or(SimError::UnknownId {
            kind: "projection",
            id: id.0,
        })
    }

    fn wire_mut(&mut self, id: ProjectionId) -> Result<&mut Wiring> {
        self.wiring.get_mut(id.0).ok_or(SimError::UnknownId {
            kind: "projection",
            id: id.0,
        })
    }

    /// Number of outputs of a spike source.
    pub fn source_len(&self, source: Source) -> Result<usize> {
        match source {
            Source::Population(p) => {
                let pop = self.pop(p)?;
                if !pop.model.is_spiking() {
                    return Err(SimError::Unsupported(format!(
                        "population {:?} ({}) does not spike and cannot be a spike source",
                        pop.name,
                        pop.model.kind()
                    )));
                }
                Ok(pop.len())
            }
            Source::Generator(g) => Ok(self.generator(g)?.len()),
        }
    }

    /// Source and target of a projection.
    pub fn projection_ends(&self, id: ProjectionId) -> Result<(Source, PopulationId)> {
        let w = self.wire(id)?;
        Ok((w.source, w.target))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::neurons::{Lif, LifParams};

    /// Spikes, `v` and the synaptic currents of a small recurrent network run on `threads`.
    fn run(threads: usize, precision: Precision) -> (Vec<u32>, Vec<u64>, Vec<f64>, Vec<f64>) {
        let pool = rayon::ThreadPoolBuilder::new()
            .num_threads(threads)
            .build()
            .unwrap();
        pool.install(|| {
            let mut net = Network::new(1e-4).unwrap();
            net.set_precision(precision);
            let params = LifParams {
                r_m: 1.0.into(),
                e_l: (-49e-3).into(),
                v_reset: (-60e-3).into(),
                v_threshold: (-50e-3).into(),
                tau_m: 20e-3.into(),
                t_ref: 5e-3.into(),
            };
            let n = 2 * BLOCK + 123;
            let pop = net
                .add_population("p", Neuron::Lif(Lif::new(n, &params).unwrap()))
                .unwrap();
            let ge = net
                .add_receptor(pop, "ge", SynapseKind::ExpCurrent { tau: 5e-3 })
                .unwrap();
            let jump = net.add_receptor(pop, "jump", SynapseKind::Delta).unwrap();
            let options = |seed| ConnectOptions {
                allow_self: true,
                allow_multapses: true,
                seed,
            };
            let sparse = Rule::FixedInDegree { k: 40 };
            let (w, delays) = (Param::Scalar(1e-3), Delays::Uniform(0));
            net.connect(pop.into(), ge, &sparse, options(1), &w, &delays)
                .unwrap();
            // unsorted targets, per-synapse weights and delays, onto the voltage
            let count = 40 * n;
            let mut rng = crate::rng::Rng::stream(9, 0);
            let pre: Vec<u32> = (0..count).map(|_| rng.below(n as u64) as u32).collect();
            let post: Vec<u32> = (0..count).map(|_| rng.below(n as u64) as u32).collect();
            let ws: Vec<f64> = (0..count).map(|_| -2e-4 * rng.uniform()).collect();
            let ds: Vec<u32> = (0..count).map(|_| rng.below(4) as u32).collect();
            let lists = Connectivity::from_lists(n, n, &pre, &post).unwrap();
            net.connect_with(
                pop.into(),
                jump,
                lists,
                &Param::Array(ws),
                &Delays::PerSynapse(ds),
            )
            .unwrap();
            let v0: Vec<f64> = (0..n).map(|_| -60e-3 + 10e-3 * rng.uniform()).collect();
            net.set_state(pop, "v", &Param::Array(v0)).unwrap();
            net.add_spike_monitor(pop.into(), None).unwrap();
            let out = net.run(150).unwrap();
            let spikes = &out.spikes[0];
            (
                spikes.neurons.clone(),
                spikes.steps.clone(),
                net.state(pop, "v").unwrap(),
                net.state(pop, "ge").unwrap(),
            )
        })
    }

    #[test]
    fn parallel_delivery_gives_the_same_network_on_one_two_and_three_threads() {
        for precision in [Precision::F64, Precision::F32] {
            let one = run(1, precision);
            assert!(one.0.len() > 1000, "{} spikes", one.0.len());
            // three threads cut the three blocks into pieces of unequal sizes
            for threads in [2, 3] {
                let many = run(threads, precision);
                assert_eq!(one.0, many.0);
                assert_eq!(one.1, many.1);
                let bits = |x: &[f64]| x.iter().map(|v| v.to_bits()).collect::<Vec<_>>();
                assert_eq!(bits(&one.2), bits(&many.2));
                assert_eq!(bits(&one.3), bits(&many.3));
            }
        }
    }
}
