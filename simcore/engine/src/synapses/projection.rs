//! A projection: synapses from one spike source onto one receptor of one population, with
//! per-synapse weights and integer delays, delivered through a ring buffer.
//!
//! Synapses are stored CSR by source and, within a source, grouped by delay: a spike of source
//! `i` is one entry per distinct delay `d` of `i`, queued in ring slot `(t + d) mod (D + 1)`
//! (`D` the largest delay). At every step the current slot is delivered and cleared; its
//! buffers keep their capacity, so steady state allocates nothing. Delay 0 delivers in the
//! step of the spike, during the synaptic-propagation phase (Brian2's semantics). Delivery
//! walks each group's targets and weights in memory order.
//!
//! Delivery is bound by memory latency: each spike's synapses sit at a random place in tables
//! far larger than the caches. So a projection whose synapses share one weight stores no
//! weights at all, the tables ask for huge pages (see `memory.rs`), and delivery prefetches
//! the groups a few spikes ahead of the one it adds.
//!
//! Delivery runs in parallel over ranges of the target population's blocks, the pieces its
//! update runs in (see `neurons::pieces`: each is then delivered by the core that updates it):
//! every thread walks all the due groups, in order, and adds those of their synapses whose
//! target lies in its range (found from where an even spread would put them when the group's
//! targets ascend, as generated rules make them; only that run of the group is prefetched).
//! Each state thus receives its additions in the order of a delivery on one thread, whatever
//! the number of threads.

use crate::connectivity::Connectivity;
use crate::error::{Result, SimError};
#[cfg(test)]
use crate::neurons::Voltage;
use crate::params::Param;
use crate::params::Real;
use crate::plasticity::stdp::{Stdp, StdpParams};
#[cfg(test)]
use crate::synapses::{Receptors, State};
use crate::synapses::{Sink, BLOCK, LOG_BLOCK};
use std::borrow::Cow;
use std::ops::Range;

/// Synaptic delays in whole time steps (use [`crate::params::delay_steps`] to convert seconds).
#[derive(Debug, Clone, PartialEq)]
pub enum Delays {
    /// The same delay for every synapse.
    Uniform(u32),
    /// One delay per synapse, in the order of the connectivity's input.
    PerSynapse(Vec<u32>),
}

/// A (source, delay) group: synapses `start..end` share the delay.
#[derive(Debug, Clone, Copy)]
struct Group {
    start: usize,
    end: usize,
    delay: u32,
    /// How many of the group's synapses go to targets below `Projection::cut` (set by
    /// [`Projection::fit_cut`]; in what would otherwise be the struct's padding).
    below_cut: u32,
}

/// The weights of a projection.
#[derive(Debug, Clone)]
enum Weights {
    /// The same weight for every synapse; nothing stored per synapse.
    Uniform(f64),
    /// One weight per synapse (engine order).
    Each(Vec<f64>),
}

impl Weights {
    fn from_param(weights: &Param, n_syn: usize) -> Result<Self> {
        match weights {
            Param::Scalar(w) if !w.is_finite() => Err(SimError::invalid(
                "weights",
                format!("must be finite, got {w}"),
            )),
            Param::Scalar(w) => Ok(Weights::Uniform(*w)),
            Param::Array(ws) => {
                if ws.len() != n_syn {
                    return Err(SimError::length("weights", n_syn, ws.len()));
                }
                if let Some((i, w)) = ws.iter().enumerate().find(|(_, w)| !w.is_finite()) {
                    return Err(SimError::invalid(
                        format!("weights[{i}]"),
                        format!("must be finite, got {w}"),
                    ));
                }
                Ok(Weights::Each(ws.clone()))
            }
        }
    }

    /// One weight per synapse, stored from now on.
    fn each(&mut self, n_syn: usize) -> &mut Vec<f64> {
        if let Weights::Uniform(w) = *self {
            *self = Weights::Each(vec![w; n_syn]);
        }
        match self {
            Weights::Each(ws) => ws,
            Weights::Uniform(_) => unreachable!("made per synapse above"),
        }
    }
}

/// How many groups ahead of the one being delivered are prefetched.
const AHEAD: usize = 4;
/// How many synapses on each side of a part's estimated run of a group are prefetched with it
/// (for random connectivity the estimate is a few synapses off).
const SLACK: usize = 16;
/// Above this many bytes of receptor state in the target population, delivery prefetches the
/// state each synapse adds to. Below it the states stay in cache between steps, and a prefetch
/// per synapse costs more than the miss it saves. Measured on CUBA with 2 threads, switching
/// between the two every other 100 ms: without it, 7% faster at 3 MB (400,000 neurons) and
/// about level at 8 MB; with it, 19-20% faster at 12 and 16 MB.
const PREFETCH_STATES_BYTES: usize = 8 << 20;

/// Asks the CPU to start loading the cache line at `p` (a hint: never faults).
#[inline(always)]
pub(crate) fn prefetch<T>(p: *const T) {
    #[cfg(target_arch = "x86_64")]
    // SAFETY: a prefetch only hints the cache; it reads nothing and cannot fault.
    unsafe {
        core::arch::x86_64::_mm_prefetch(p as *const i8, core::arch::x86_64::_MM_HINT_T0)
    };
    #[cfg(not(target_arch = "x86_64"))]
    let _ = p;
}

/// Prefetches every cache line of `items`.
#[inline(always)]
pub(crate) fn prefetch_all<T>(items: &[T]) {
    let bytes = std::mem::size_of_val(items);
    let base = items.as_ptr() as *const u8;
    for offset in (0..bytes).step_by(64) {
        prefetch(base.wrapping_add(offset));
    }
}

/// The sources `r` such that source `i` has one group, `i - r.start`, when there is such a
/// range (sources before and after it have no synapses, each one inside has one group).
fn source_groups(group_ptr: &[usize]) -> Option<Range<u32>> {
    let counts = group_ptr.windows(2).map(|w| w[1] - w[0]);
    let first = counts.clone().position(|c| c > 0).unwrap_or(0);
    let end = group_ptr.len() - 1 - counts.clone().rev().position(|c| c > 0).unwrap_or(0);
    let one_each = counts.skip(first).take(end - first).all(|c| c == 1);
    one_each.then_some(first as u32..end as u32)
}

/// Whether the targets of every group are in ascending order.
fn ascending(groups: &[Group], targets: &[u32]) -> bool {
    use rayon::prelude::*;
    groups
        .par_iter()
        .all(|g| targets[g.start..g.end].windows(2).all(|w| w[0] <= w[1]))
}

/// A range of whole blocks of the target population, as one thread delivers into it.
pub(crate) struct Part<'a, T> {
    /// First neuron of the range (a multiple of [`BLOCK`]).
    pub lo: usize,
    /// One past the last neuron of the range.
    pub hi: usize,
    /// The receptor state of the range's blocks (block-major, `block_len` per block).
    pub rec: &'a mut [T],
    /// The membrane potentials of neurons `lo..hi`.
    pub v: &'a mut [T],
    /// Length of one block's chunk of the receptor state.
    pub block_len: usize,
}

impl<'a, T> Part<'a, T> {
    /// The whole target population as one range (``v`` holds every neuron's potential).
    #[cfg(test)]
    pub(crate) fn whole(rec: &'a mut [T], v: &'a mut [T], block_len: usize) -> Self {
        Part {
            lo: 0,
            hi: v.len(),
            rec,
            v,
            block_len,
        }
    }

    /// The same range, borrowed again (to deliver several projections into it).
    pub(crate) fn reborrow(&mut self) -> Part<'_, T> {
        Part {
            lo: self.lo,
            hi: self.hi,
            rec: self.rec,
            v: self.v,
            block_len: self.block_len,
        }
    }
}

/// Synapses from a spike source onto one receptor of a population.
#[derive(Debug, Clone)]
pub struct Projection {
    n_pre: usize,
    n_post: usize,
    pub(crate) receptor: usize,
    targets: Vec<u32>,
    weights: Weights,
    /// Synapse (internal order) -> position in the input order (None = identity).
    order: Option<Vec<usize>>,
    group_ptr: Vec<usize>,
    groups: Vec<Group>,
    /// The delay of every group, when they all share one: queuing a spike then reads only
    /// `group_ptr`, not the groups (one cache miss less per spike).
    delay: Option<u32>,
    /// Some(r) when source `i` in `r` has one group, `i - r.start`, and the others none (one
    /// delay, no gaps: the usual case, `r` all sources but where populations run as one): a
    /// spike is then queued without reading `group_ptr` (a cache miss per spike, in the one
    /// part of a step that runs on one thread).
    source_groups: Option<Range<u32>>,
    ring: Vec<Vec<u32>>,
    scale: f64,
    stdp: Option<Stdp>,
    /// Whether every group's targets are in ascending order: the targets of a range of the
    /// population are then one run of the group, found by a search (see `first_at_least`).
    ascending: bool,
    /// The target the groups' `below_cut` counts are for (see [`Projection::fit_cut`]).
    cut: Option<usize>,
}

impl Projection {
    /// Builds the projection. `weights` (weight unit of the target receptor: volts for delta,
    /// amperes for currents, siemens for conductances) and `delays` (steps) are scalars or one
    /// value per synapse in the connectivity's *input* order (CSR order for generated rules,
    /// list order for explicit lists).
    pub fn new(
        conn: Connectivity,
        receptor: usize,
        weights: &Param,
        delays: &Delays,
    ) -> Result<Self> {
        if let (None, Delays::Uniform(d)) = (conn.input_order(), delays) {
            return Self::uniform_delay(conn, receptor, weights, *d);
        }
        let n_syn = conn.n_synapses();
        let input_order = conn.input_order().map(<[usize]>::to_vec);
        let input_index = |s: usize| input_order.as_ref().map_or(s, |o| o[s]);
        let weights = Weights::from_param(weights, n_syn)?;
        if let Delays::PerSynapse(ds) = delays {
            if ds.len() != n_syn {
                return Err(SimError::length("delays", n_syn, ds.len()));
            }
        }
        let delay_at = |s: usize| match delays {
            Delays::Uniform(d) => *d,
            Delays::PerSynapse(ds) => ds[s],
        };
        let max_delay = match delays {
            Delays::Uniform(d) => *d,
            Delays::PerSynapse(ds) => ds.iter().copied().max().unwrap_or(0),
        };
        if max_delay as usize > (1 << 24) {
            return Err(SimError::invalid(
                "delays",
                format!("{max_delay} steps exceed the 2^24-step ring buffer limit"),
            ));
        }

        // Sort each row by delay (stable: keeps the input order within a delay).
        let (n_pre, n_post) = (conn.n_pre(), conn.n_post());
        let row_ptr = conn.row_ptr().to_vec();
        let csr_targets = conn.targets();
        let mut targets = Vec::with_capacity(n_syn);
        crate::memory::advise(&mut targets);
        let mut ws = Vec::with_capacity(if matches!(weights, Weights::Each(_)) {
            n_syn
        } else {
            0
        });
        crate::memory::advise(&mut ws);
        let mut order = Vec::with_capacity(n_syn);
        let mut group_ptr = Vec::with_capacity(n_pre + 1);
        let mut groups = Vec::with_capacity(n_pre);
        crate::memory::advise(&mut group_ptr);
        crate::memory::advise(&mut groups);
        group_ptr.push(0);
        let mut perm: Vec<usize> = Vec::new();
        for i in 0..n_pre {
            let (a, b) = (row_ptr[i], row_ptr[i + 1]);
            perm.clear();
            perm.extend(a..b);
            if matches!(delays, Delays::PerSynapse(_)) {
                perm.sort_by_key(|&s| delay_at(input_index(s)));
            }
            for &s in &perm {
                let input = input_index(s);
                let d = delay_at(input);
                let here = targets.len();
                let extend = groups.len() > group_ptr[i]
                    && groups
                        .last()
                        .is_some_and(|g: &Group| g.end == here && g.delay == d);
                match groups.last_mut() {
                    Some(last) if extend => last.end += 1,
                    _ => groups.push(Group {
                        start: here,
                        end: here + 1,
                        delay: d,
                        below_cut: 0,
                    }),
                }
                targets.push(csr_targets[s]);
                if let Weights::Each(w) = &weights {
                    ws.push(w[input]);
                }
                order.push(input);
            }
            group_ptr.push(groups.len());
        }
        let identity = order.iter().enumerate().all(|(a, &b)| a == b);
        let delay = match groups.first() {
            Some(first) if groups.iter().all(|g| g.delay == first.delay) => Some(first.delay),
            _ => None,
        };
        let ascending = ascending(&groups, &targets);
        Ok(Projection {
            n_pre,
            n_post,
            receptor,
            targets,
            weights: match weights {
                Weights::Uniform(w) => Weights::Uniform(w),
                Weights::Each(_) => Weights::Each(ws),
            },
            order: (!identity).then_some(order),
            source_groups: delay.and(source_groups(&group_ptr)),
            group_ptr,
            groups,
            delay,
            ring: vec![Vec::new(); max_delay as usize + 1],
            scale: 1.0,
            stdp: None,
            ascending,
            cut: None,
        })
    }

    /// The common case: synapses already in CSR order, one delay. No sorting, no copies.
    fn uniform_delay(
        conn: Connectivity,
        receptor: usize,
        weights: &Param,
        delay: u32,
    ) -> Result<Self> {
        let (n_pre, n_post) = (conn.n_pre(), conn.n_post());
        let (row_ptr, targets, _) = conn.into_parts();
        let n_syn = targets.len();
        let weights = Weights::from_param(weights, n_syn)?;
        if delay as usize > (1 << 24) {
            return Err(SimError::invalid(
                "delays",
                format!("{delay} steps exceed the 2^24-step ring buffer limit"),
            ));
        }
        let mut group_ptr = Vec::with_capacity(n_pre + 1);
        let mut groups = Vec::with_capacity(n_pre);
        crate::memory::advise(&mut group_ptr);
        crate::memory::advise(&mut groups);
        group_ptr.push(0);
        for i in 0..n_pre {
            let (start, end) = (row_ptr[i], row_ptr[i + 1]);
            if end > start {
                groups.push(Group {
                    start,
                    end,
                    delay,
                    below_cut: 0,
                });
            }
            group_ptr.push(groups.len());
        }
        let ascending = ascending(&groups, &targets);
        let source_groups = source_groups(&group_ptr);
        Ok(Projection {
            n_pre,
            n_post,
            receptor,
            targets,
            weights,
            order: None,
            group_ptr,
            groups,
            delay: Some(delay),
            source_groups,
            ring: vec![Vec::new(); delay as usize + 1],
            scale: 1.0,
            stdp: None,
            ascending,
            cut: None,
        })
    }

    /// Makes the projection plastic.
    pub(crate) fn enable_stdp(&mut self, params: StdpParams, dt: f64) -> Result<()> {
        let groups: Vec<(usize, usize)> = self.groups.iter().map(|g| (g.start, g.end)).collect();
        self.weights.each(self.targets.len());
        self.stdp = Some(Stdp::new(params, dt, self.n_post, &self.targets, &groups)?);
        Ok(())
    }

    /// Number of sources.
    pub fn n_pre(&self) -> usize {
        self.n_pre
    }

    /// Number of targets.
    pub fn n_post(&self) -> usize {
        self.n_post
    }

    /// Number of synapses.
    pub fn n_synapses(&self) -> usize {
        self.targets.len()
    }

    /// Largest delay (steps).
    pub fn max_delay(&self) -> u32 {
        (self.ring.len() - 1) as u32
    }

    /// The weight scale applied at delivery (1 by default).
    pub fn scale(&self) -> f64 {
        self.scale
    }

    pub(crate) fn set_scale(&mut self, scale: f64) -> Result<()> {
        if !scale.is_finite() {
            return Err(SimError::invalid(
                "weight scale",
                format!("must be finite, got {scale}"),
            ));
        }
        self.scale = scale;
        Ok(())
    }

    /// Weights in the engine's synapse order (by source, then delay; see [`Projection::synapses`]).
    pub fn weights(&self) -> Cow<'_, [f64]> {
        match &self.weights {
            Weights::Uniform(w) => Cow::Owned(vec![*w; self.targets.len()]),
            Weights::Each(ws) => Cow::Borrowed(ws),
        }
    }

    /// Replaces the weights (engine synapse order).
    pub fn set_weights(&mut self, weights: &[f64]) -> Result<()> {
        let n_syn = self.targets.len();
        if weights.len() != n_syn {
            return Err(SimError::length("weights", n_syn, weights.len()));
        }
        if let Some((i, w)) = weights.iter().enumerate().find(|(_, w)| !w.is_finite()) {
            return Err(SimError::invalid(
                format!("weights[{i}]"),
                format!("must be finite, got {w}"),
            ));
        }
        self.weights.each(n_syn).copy_from_slice(weights);
        Ok(())
    }

    /// Gives the synapses from sources `pre` onto targets `post` the weight `weight` (one
    /// weight per synapse from then on): one of the projections that share this one's table
    /// changes its weight, and the others keep theirs.
    pub fn set_block_weight(
        &mut self,
        pre: Range<usize>,
        post: Range<usize>,
        weight: f64,
    ) -> Result<()> {
        if pre.start > pre.end
            || pre.end > self.n_pre
            || post.end > self.n_post
            || !weight.is_finite()
        {
            return Err(SimError::invalid(
                "block weight",
                format!(
                    "needs sources within {}, targets within {} and a finite weight; got \
                     {pre:?}, {post:?} and {weight}",
                    self.n_pre, self.n_post
                ),
            ));
        }
        let ws = self.weights.each(self.targets.len());
        for g in &self.groups[self.group_ptr[pre.start]..self.group_ptr[pre.end]] {
            let targets = &self.targets[g.start..g.end];
            for (w, &j) in ws[g.start..g.end].iter_mut().zip(targets) {
                if post.contains(&(j as usize)) {
                    *w = weight;
                }
            }
        }
        Ok(())
    }

    /// The synapses in the engine's order: `(pre, post, delay in steps)`.
    pub fn synapses(&self) -> (Vec<u32>, Vec<u32>, Vec<u32>) {
        let n = self.targets.len();
        let (mut pre, mut delay) = (Vec::with_capacity(n), Vec::with_capacity(n));
        for i in 0..self.n_pre {
            for g in &self.groups[self.group_ptr[i]..self.group_ptr[i + 1]] {
                pre.extend(std::iter::repeat_n(i as u32, g.end - g.start));
                delay.extend(std::iter::repeat_n(g.delay, g.end - g.start));
            }
        }
        (pre, self.targets.clone(), delay)
    }

    /// For each synapse in engine order, its position in the input order (None = identity).
    pub fn input_order(&self) -> Option<&[usize]> {
        self.order.as_deref()
    }

    /// Queues this step's spikes of the source (`step` is the current step).
    pub(crate) fn push(&mut self, step: u64, spikes: &[u32]) {
        let len = self.ring.len() as u64;
        if let Some(delay) = self.delay {
            let due = &mut self.ring[((step + delay as u64) % len) as usize];
            if let Some(sources) = &self.source_groups {
                if sources.len() == self.n_pre {
                    due.extend_from_slice(spikes);
                } else {
                    let inside = spikes.iter().filter(|i| sources.contains(i));
                    due.extend(inside.map(|i| i - sources.start));
                }
                return;
            }
            for (k, &i) in spikes.iter().enumerate() {
                if let Some(&ahead) = spikes.get(k + AHEAD) {
                    prefetch(&self.group_ptr[ahead as usize]);
                }
                let i = i as usize;
                due.extend(self.group_ptr[i] as u32..self.group_ptr[i + 1] as u32);
            }
            return;
        }
        for (k, &i) in spikes.iter().enumerate() {
            if let Some(&ahead) = spikes.get(k + AHEAD) {
                prefetch(&self.group_ptr[ahead as usize]);
            }
            let i = i as usize;
            for g in self.group_ptr[i]..self.group_ptr[i + 1] {
                let slot = ((step + self.groups[g].delay as u64) % len) as usize;
                self.ring[slot].push(g as u32);
            }
        }
    }

    /// The groups due at `step` (queued by [`Projection::push`]), in delivery order.
    pub(crate) fn due(&self, step: u64) -> &[u32] {
        &self.ring[(step % self.ring.len() as u64) as usize]
    }

    /// Adds the synapses of the `due` groups whose targets lie in `part` to its state (`sink`:
    /// where a spike of this projection lands). Each target receives its additions in the
    /// order of `due` and, within a group, of the synapses: the order of a delivery over the
    /// whole population. So the result does not depend on how the population is cut into
    /// parts, that is, on the number of threads. Returns the synapses of the `due` groups
    /// (the step's synaptic events) when the part starts at the population's first neuron,
    /// else 0: the parts of one delivery add up to its events, counted where the groups
    /// are read anyway rather than by reading them again after the delivery.
    pub(crate) fn deliver_part<T: Real>(&self, due: &[u32], sink: Sink, part: Part<'_, T>) -> u64 {
        let Part {
            lo,
            hi,
            rec,
            v,
            block_len,
        } = part;
        let whole = lo == 0 && hi >= self.n_post;
        let first_block = lo >> LOG_BLOCK;
        // The synapses of group `g` that may target the part: when the targets ascend, the
        // run of them inside it (see `below`), else all (filtered one by one).
        let span = |g: u32| {
            let group = &self.groups[g as usize];
            let (start, end) = (group.start, group.end);
            if whole || !self.ascending {
                return (start, end);
            }
            let from = if lo == 0 { 0 } else { self.below(group, lo) };
            let to = if hi >= self.n_post {
                end - start
            } else {
                self.below(group, hi)
            };
            (start + from, start + to)
        };
        // Three stages of prefetch: the groups, their synapses, then the states those
        // synapses add to (for a population whose state outgrows the caches), so that the
        // additions of a group find their states in cache. The runs found for the last stage
        // are kept for the delivery, AHEAD groups later.
        let state_bytes = self.n_post.div_ceil(BLOCK) * block_len * std::mem::size_of::<T>();
        let large = state_bytes > PREFETCH_STATES_BYTES;
        let base = rec.as_ptr();
        let prefetch_states = |(start, end): (usize, usize)| {
            if let (Sink::Row { row, .. }, true) = (sink, large) {
                let offset = row * BLOCK;
                for &j in &self.targets[start..end] {
                    let j = j as usize;
                    if (lo..hi).contains(&j) {
                        let b = (j >> LOG_BLOCK) - first_block;
                        prefetch(base.wrapping_add(b * block_len + offset + (j & (BLOCK - 1))));
                    }
                }
            }
        };
        // The first groups have no earlier ones to start their stages: start them at once (a
        // short list, as onto a small population, would otherwise wait on most of its own).
        for &g in due.iter().take(3 * AHEAD) {
            prefetch(&self.groups[g as usize]);
        }
        let mut spans = [(0, 0); AHEAD];
        for (slot, &g) in spans.iter_mut().zip(due) {
            *slot = span(g);
            prefetch_states(*slot);
        }
        let mut events = 0;
        for k in 0..due.len() {
            if lo == 0 {
                let Group { start, end, .. } = self.groups[due[k] as usize];
                events += (end - start) as u64;
            }
            let (start, end) = spans[k % AHEAD];
            if let Some(&ahead) = due.get(k + AHEAD) {
                spans[k % AHEAD] = span(ahead);
                prefetch_states(spans[k % AHEAD]);
            }
            if let Some(&ahead) = due.get(k + 2 * AHEAD) {
                let Group { start, end, .. } = self.groups[ahead as usize];
                let (start, end) = if whole || !self.ascending {
                    (start, end)
                } else {
                    let len = end - start;
                    let a = self.evenly(len, lo).saturating_sub(SLACK);
                    let b = (self.evenly(len, hi) + SLACK).min(len);
                    (start + a, start + b)
                };
                prefetch_all(&self.targets[start..end]);
                if let Weights::Each(ws) = &self.weights {
                    prefetch_all(&ws[start..end]);
                }
            }
            if let Some(&ahead) = due.get(k + 3 * AHEAD) {
                prefetch(&self.groups[ahead as usize]);
            }
            let targets = &self.targets[start..end];
            let mine = |j: usize| whole || self.ascending || (lo..hi).contains(&j);
            match sink {
                Sink::Voltage => {
                    let v = &mut v[..];
                    let mut add = |j: usize, x: f64| {
                        if mine(j) {
                            v[j - lo] += T::of(x);
                        }
                    };
                    match &self.weights {
                        Weights::Uniform(w) => {
                            let x = self.scale * w;
                            targets.iter().for_each(|&j| add(j as usize, x));
                        }
                        Weights::Each(ws) => {
                            let f = self.scale;
                            let pairs = targets.iter().zip(&ws[start..end]);
                            pairs.for_each(|(&j, &w)| add(j as usize, f * w));
                        }
                    }
                }
                Sink::Row { row, factor } => {
                    let offset = row * BLOCK;
                    let rec = &mut rec[..];
                    let mut add = |j: usize, x: T| {
                        if mine(j) {
                            let b = (j >> LOG_BLOCK) - first_block;
                            rec[b * block_len + offset + (j & (BLOCK - 1))] += x;
                        }
                    };
                    match &self.weights {
                        Weights::Uniform(w) => {
                            let x = T::of(self.scale * factor * w);
                            targets.iter().for_each(|&j| add(j as usize, x));
                        }
                        Weights::Each(ws) => {
                            let f = self.scale * factor;
                            let pairs = targets.iter().zip(&ws[start..end]);
                            pairs.for_each(|(&j, &w)| add(j as usize, T::of(f * w)));
                        }
                    }
                }
            }
        }
        events
    }

    /// Where target `x` would sit in a group of `len` targets spread evenly over the population.
    #[inline]
    fn evenly(&self, len: usize, x: usize) -> usize {
        (len * x / self.n_post.max(1)).min(len)
    }

    /// How many of `group`'s synapses (targets ascending) go to targets below `x`: kept for
    /// the cut, else searched for.
    #[inline]
    fn below(&self, group: &Group, x: usize) -> usize {
        if self.cut == Some(x) {
            group.below_cut as usize
        } else {
            self.first_at_least(&self.targets[group.start..group.end], x)
        }
    }

    /// Counts, in each group (targets ascending), the synapses onto targets below `cut`: a
    /// bound between the parts the target population is delivered in (its middle one, a
    /// bound for any number of threads), so that a part that starts or ends there finds its
    /// run of a group without a search: a few unpredictable branches per group and part,
    /// a good share of the work where a part gets a few synapses of each group (onto a small
    /// population). Nothing is done when `cut` is already the one counted for.
    pub(crate) fn fit_cut(&mut self, cut: usize) {
        let fits = |g: &Group| g.end - g.start <= u32::MAX as usize;
        if self.cut == Some(cut) || !self.ascending || !self.groups.iter().all(fits) {
            return;
        }
        for g in 0..self.groups.len() {
            let Group { start, end, .. } = self.groups[g];
            self.groups[g].below_cut = self.first_at_least(&self.targets[start..end], cut) as u32;
        }
        self.cut = Some(cut);
    }

    /// The first position of ascending `targets` holding `x` or more. It starts where targets
    /// spread evenly over the population would put it (a step or two off, for random
    /// connectivity: cheaper than a bisection, and near the synapses the part will read),
    /// and gallops from there, so a skewed row costs a logarithm of the distance.
    #[inline]
    fn first_at_least(&self, targets: &[u32], x: usize) -> usize {
        let below = |i: usize| (targets[i] as usize) < x;
        let len = targets.len();
        let guess = self.evenly(len, x);
        let (mut lo, mut hi) = (0, len);
        let mut step = 1;
        if guess < len && below(guess) {
            lo = guess + 1;
            while guess + step < len {
                if !below(guess + step) {
                    hi = guess + step;
                    break;
                }
                lo = guess + step + 1;
                step *= 2;
            }
        } else {
            hi = guess;
            while step <= guess {
                if below(guess - step) {
                    lo = guess - step + 1;
                    break;
                }
                hi = guess - step;
                step *= 2;
            }
        }
        lo + targets[lo..hi].partition_point(|&j| (j as usize) < x)
    }

    /// Ends the delivery of step `step` (after [`Projection::deliver_part`] over every part):
    /// the plastic weights see the pre-synaptic spikes, the ring slot is emptied.
    pub(crate) fn finish(&mut self, step: u64) {
        let slot = (step % self.ring.len() as u64) as usize;
        let mut due = std::mem::take(&mut self.ring[slot]);
        if let (Some(stdp), Weights::Each(ws)) = (&mut self.stdp, &mut self.weights) {
            // Each synapse is delivered at most once per step, so updating the weights after
            // the step's whole delivery is the same as after each group's.
            for &g in &due {
                let Group { start, end, .. } = self.groups[g as usize];
                stdp.on_pre(g as usize, start, end, step, &self.targets, ws);
            }
        }
        due.clear();
        self.ring[slot] = due;
    }

    /// Delivers what is due at `step` into the whole target population (one thread).
    #[cfg(test)]
    pub(crate) fn deliver(&mut self, step: u64, receptors: &mut Receptors, v: Voltage<'_>) -> u64 {
        let sink = receptors.sink(self.receptor);
        let block_len = receptors.block_len();
        let slot = (step % self.ring.len() as u64) as usize;
        let due = std::mem::take(&mut self.ring[slot]);
        let events = match (receptors.state_mut(), v) {
            (State::F64(rec), Voltage::F64(v)) => {
                self.deliver_part(&due, sink, Part::whole(rec, v, block_len))
            }
            (State::F32(rec), Voltage::F32(v)) => {
                self.deliver_part(&due, sink, Part::whole(rec, v, block_len))
            }
            _ => unreachable!("a population's state has one precision"),
        };
        self.ring[slot] = due;
        self.finish(step);
        events
    }

    /// Post-synaptic spikes of this step (STDP only).
    pub(crate) fn post_spikes(&mut self, step: u64, spikes: &[u32]) {
        if let (Some(stdp), Weights::Each(ws)) = (&mut self.stdp, &mut self.weights) {
            for &j in spikes {
                stdp.on_post(j as usize, step, ws);
            }
        }
    }

    /// Whether the projection is plastic.
    pub fn is_plastic(&self) -> bool {
        self.stdp.is_some()
    }

    /// The STDP parameters, if plastic.
    pub fn stdp(&self) -> Option<&StdpParams> {
        self.stdp.as_ref().map(|s| &s.params)
    }

    /// Bytes held by the synapse tables (for memory reports).
    pub fn memory_bytes(&self) -> usize {
        self.targets.capacity() * 4
            + match &self.weights {
                Weights::Uniform(_) => 0,
                Weights::Each(ws) => ws.capacity() * 8,
            }
            + self.order.as_ref().map_or(0, |o| o.capacity() * 8)
            + self.group_ptr.capacity() * 8
            + self.groups.capacity() * std::mem::size_of::<Group>()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::connectivity::Connectivity;
    use crate::synapses::{Receptors, State, SynapseKind, BLOCK};

    #[test]
    fn groups_by_delay_and_delivers_after_exactly_the_delay() {
        // source 0 -> targets 0,1,2 with delays 2,0,2 ; source 1 -> target 1 delay 1
        let conn = Connectivity::from_lists(2, 3, &[0, 0, 0, 1], &[0, 1, 2, 1]).unwrap();
        let mut p = Projection::new(
            conn,
            0,
            &Param::Array(vec![1.0, 10.0, 100.0, 1000.0]),
            &Delays::PerSynapse(vec![2, 0, 2, 1]),
        )
        .unwrap();
        assert_eq!(p.max_delay(), 2);
        let (pre, post, delay) = p.synapses();
        assert_eq!(pre, vec![0, 0, 0, 1]);
        assert_eq!(post, vec![1, 0, 2, 1]);
        assert_eq!(delay, vec![0, 2, 2, 1]);
        assert_eq!(p.input_order(), Some(&[1, 0, 2, 3][..]));
        assert_eq!(&*p.weights(), &[10.0, 1.0, 100.0, 1000.0]);
        let mut rec = Receptors::new(3);
        rec.add("I", SynapseKind::ExpCurrent { tau: 1e-3 }).unwrap();
        let mut v = vec![0.0; 3];
        p.push(5, &[0, 1]);
        assert_eq!(p.deliver(5, &mut rec, Voltage::F64(&mut v)), 1);
        assert_eq!(rec.gather(0), vec![0.0, 10.0, 0.0]);
        assert_eq!(p.deliver(6, &mut rec, Voltage::F64(&mut v)), 1);
        assert_eq!(rec.gather(0), vec![0.0, 1010.0, 0.0]);
        assert_eq!(p.deliver(7, &mut rec, Voltage::F64(&mut v)), 2);
        assert_eq!(rec.gather(0), vec![1.0, 1010.0, 100.0]);
        assert_eq!(p.deliver(8, &mut rec, Voltage::F64(&mut v)), 0);
    }

    #[test]
    fn a_projection_from_part_of_a_population_queues_only_that_parts_spikes() {
        // sources 2..4 of 6 (the rows of a population running inside a larger one)
        let block = crate::connectivity::Block {
            synapses: Connectivity::from_lists(2, 3, &[0, 0, 1], &[0, 2, 1]).unwrap(),
            pre_offset: 2,
            post_offset: 0,
        };
        let conn = Connectivity::stack(6, 3, vec![block]).unwrap();
        let mut p = Projection::new(conn, 0, &Param::Scalar(1.0), &Delays::Uniform(1)).unwrap();
        assert_eq!(p.source_groups, Some(2..4));
        let mut rec = Receptors::new(3);
        rec.add("I", SynapseKind::ExpCurrent { tau: 1e-3 }).unwrap();
        let mut v = vec![0.0; 3];
        p.push(0, &[0, 1, 3, 5]);
        p.push(1, &[2, 3]);
        assert_eq!(p.deliver(1, &mut rec, Voltage::F64(&mut v)), 1);
        assert_eq!(rec.gather(0), vec![0.0, 1.0, 0.0]);
        assert_eq!(p.deliver(2, &mut rec, Voltage::F64(&mut v)), 3);
        assert_eq!(rec.gather(0), vec![1.0, 2.0, 1.0]);
        // a gap in the rows: queued through the groups' table
        let gap = Connectivity::from_lists(4, 3, &[0, 3], &[0, 1]).unwrap();
        let p = Projection::new(gap, 0, &Param::Scalar(1.0), &Delays::Uniform(0)).unwrap();
        assert_eq!(p.source_groups, None);
    }

    #[test]
    fn a_block_weight_changes_only_the_synapses_in_its_block() {
        // E (0..2) onto E (0..2) and onto I (2..3), one table, one weight
        let block = |synapses, post_offset| crate::connectivity::Block {
            synapses,
            pre_offset: 0,
            post_offset,
        };
        let ee = Connectivity::from_lists(2, 2, &[0, 1, 1], &[1, 0, 1]).unwrap();
        let ei = Connectivity::from_lists(2, 1, &[0, 1], &[0, 0]).unwrap();
        let conn = Connectivity::stack(3, 3, vec![block(ee, 0), block(ei, 2)]).unwrap();
        let mut p = Projection::new(conn, 0, &Param::Scalar(1.0), &Delays::Uniform(0)).unwrap();
        p.set_block_weight(0..2, 2..3, 0.5).unwrap();
        let (pre, post, _) = p.synapses();
        let expected: Vec<f64> = post
            .iter()
            .map(|&j| if j == 2 { 0.5 } else { 1.0 })
            .collect();
        assert_eq!(pre, vec![0, 0, 1, 1, 1]);
        assert_eq!(&*p.weights(), &expected[..]);
        assert!(p.set_block_weight(0..4, 0..1, 1.0).is_err());
        assert!(p.set_block_weight(0..2, 0..1, f64::NAN).is_err());
        #[allow(clippy::reversed_empty_ranges)]
        let reversed = 2..1;
        assert!(p.set_block_weight(reversed, 0..1, 1.0).is_err());
    }

    /// Delivers `spikes` at step 0 into parts of `cut` blocks each (`fitted`: with the groups'
    /// synapses counted on either side of the first bound, [`Projection::fit_cut`]); returns
    /// the state.
    fn deliver_in_parts(
        conn: &Connectivity,
        weights: &Param,
        spikes: &[u32],
        cut: usize,
        fitted: bool,
    ) -> Vec<f64> {
        let n = conn.n_post();
        let mut p = Projection::new(conn.clone(), 0, weights, &Delays::Uniform(0)).unwrap();
        if fitted {
            p.fit_cut(cut * BLOCK);
        }
        let mut rec = Receptors::new(n);
        rec.add("I", SynapseKind::ExpCurrent { tau: 1e-3 }).unwrap();
        let (sink, block_len) = (rec.sink(0), rec.block_len());
        let mut v = vec![0.0; n];
        p.push(0, spikes);
        let State::F64(data) = rec.state_mut() else {
            panic!()
        };
        let mut events = 0;
        for (k, (data, v)) in data
            .chunks_mut(cut * block_len)
            .zip(v.chunks_mut(cut * BLOCK))
            .enumerate()
        {
            let lo = k * cut * BLOCK;
            let hi = (lo + v.len()).min(n);
            events += p.deliver_part(
                p.due(0),
                sink,
                Part {
                    lo,
                    hi,
                    rec: data,
                    v,
                    block_len,
                },
            );
        }
        p.finish(0);
        assert_eq!(
            events,
            spikes
                .iter()
                .map(|&i| conn.row_ptr()[i as usize + 1] - conn.row_ptr()[i as usize])
                .sum::<usize>() as u64
        );
        rec.gather(0)
    }

    #[test]
    fn finds_where_a_part_starts_in_skewed_rows_as_a_bisection_does() {
        let n = 10_000;
        let p = Projection::new(
            Connectivity::from_lists(1, n, &[0], &[0]).unwrap(),
            0,
            &Param::Scalar(1.0),
            &Delays::Uniform(0),
        )
        .unwrap();
        let mut rng = crate::rng::Rng::stream(3, 0);
        for len in [0, 1, 2, 5, 80, 1000] {
            // rows crowded into a narrow band anywhere, or spread, repeated targets included
            for band in [1, 10, 300, n] {
                let at = rng.below((n - band + 1) as u64) as u32;
                let mut row: Vec<u32> = (0..len)
                    .map(|_| at + rng.below(band as u64) as u32)
                    .collect();
                row.sort_unstable();
                for x in [0, 1, at as usize, (at as usize + band / 2), n / 2, n - 1, n] {
                    let expected = row.partition_point(|&j| (j as usize) < x);
                    assert_eq!(
                        p.first_at_least(&row, x),
                        expected,
                        "len {len} band {band} x {x}"
                    );
                }
            }
        }
    }

    #[test]
    fn delivering_by_parts_adds_in_the_order_of_a_whole_delivery() {
        // Many small weights onto few targets, repeated targets (multapses) included, so that a
        // different order of the additions would round differently.
        let n = 3 * BLOCK + 100;
        let mut pre = Vec::new();
        let mut post = Vec::new();
        let mut rng = crate::rng::Rng::stream(7, 0);
        for i in 0..50u32 {
            for _ in 0..400 {
                pre.push(i);
                post.push(rng.below(n as u64) as u32);
            }
        }
        let weights: Vec<f64> = (0..pre.len()).map(|_| rng.uniform() * 1e-3).collect();
        let spikes: Vec<u32> = (0..50).collect();
        // unsorted rows (list order), then the same synapses sorted per source
        let unsorted = Connectivity::from_lists(50, n, &pre, &post).unwrap();
        let mut pairs: Vec<(u32, u32, f64)> = pre
            .iter()
            .zip(&post)
            .zip(&weights)
            .map(|((&i, &j), &w)| (i, j, w))
            .collect();
        pairs.sort_by_key(|&(i, j, _)| (i, j));
        let (pre_s, post_s): (Vec<u32>, Vec<u32>) = pairs.iter().map(|&(i, j, _)| (i, j)).unzip();
        let w_s: Vec<f64> = pairs.iter().map(|p| p.2).collect();
        let sorted = Connectivity::from_lists(50, n, &pre_s, &post_s).unwrap();
        for (conn, w) in [(unsorted, weights), (sorted, w_s)] {
            let w = Param::Array(w);
            let whole = deliver_in_parts(&conn, &w, &spikes, 4, false);
            for cut in [1, 2, 3] {
                for fitted in [false, true] {
                    let parts = deliver_in_parts(&conn, &w, &spikes, cut, fitted);
                    assert_eq!(parts, whole, "parts of {cut} blocks, fitted: {fitted}");
                }
            }
            assert!(whole.iter().any(|&x| x != 0.0));
        }
    }

    #[test]
    fn rejects_bad_lengths() {
        let conn = Connectivity::from_lists(2, 2, &[0, 1], &[1, 0]).unwrap();
        assert!(Projection::new(
            conn.clone(),
            0,
            &Param::Array(vec![1.0]),
            &Delays::Uniform(0)
        )
        .is_err());
        assert!(Projection::new(
            conn.clone(),
            0,
            &Param::Scalar(1.0),
            &Delays::PerSynapse(vec![1])
        )
        .is_err());
        assert!(Projection::new(conn, 0, &Param::Scalar(f64::NAN), &Delays::Uniform(0)).is_err());
    }
}
