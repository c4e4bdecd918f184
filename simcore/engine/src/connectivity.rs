//! Connectivity: who connects to whom, stored as CSR by source (pre-synaptic) neuron.
//!
//! Generated in Rust from a [`Rule`] and a seed. Every row (a source neuron for `fixed
//! probability` and `fixed out-degree`, a target neuron for `fixed in-degree`) draws from its
//! own random stream `(seed, row)`, so rows are generated in parallel and one seed gives one
//! network on every machine and for every thread count. Targets within a row are sorted
//! ascending, so spike delivery walks memory forwards.

use rayon::prelude::*;

use crate::error::{Result, SimError};
use crate::rng::Rng;

/// How to connect `n_pre` sources to `n_post` targets.
#[derive(Debug, Clone, PartialEq)]
pub enum Rule {
    /// Every source to every target.
    AllToAll,
    /// Source `i` to target `i` (needs `n_pre == n_post`).
    OneToOne,
    /// Each pair independently with probability `p` (Brian2's `connect(p=...)`).
    FixedProbability {
        /// Connection probability in `[0, 1]`.
        p: f64,
    },
    /// Each target receives exactly `k` connections from sources drawn at random.
    FixedInDegree {
        /// In-degree.
        k: usize,
    },
    /// Each source makes exactly `k` connections to targets drawn at random.
    FixedOutDegree {
        /// Out-degree.
        k: usize,
    },
    /// Exactly these pairs, `pre[s] -> post[s]`, in this order (per-synapse weights and delays
    /// given with them follow the same order).
    Explicit {
        /// Source index of each synapse.
        pre: Vec<u32>,
        /// Target index of each synapse.
        post: Vec<u32>,
    },
}

impl Rule {
    /// The rule's name as in the spec.
    pub fn name(&self) -> &'static str {
        match self {
            Rule::AllToAll => "all_to_all",
            Rule::OneToOne => "one_to_one",
            Rule::FixedProbability { .. } => "fixed_probability",
            Rule::FixedInDegree { .. } => "fixed_in_degree",
            Rule::FixedOutDegree { .. } => "fixed_out_degree",
            Rule::Explicit { .. } => "explicit",
        }
    }
}

/// Options of the generated rules (default: no self-connections, no multapses, seed 0).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct ConnectOptions {
    /// Whether pairs with `i == j` may be drawn. The [`crate::Network`] sets this to `true`
    /// itself when source and target are different populations.
    pub allow_self: bool,
    /// Whether the same pair may be drawn more than once (fixed in/out-degree only).
    pub allow_multapses: bool,
    /// Seed of the random streams.
    pub seed: u64,
}

/// Synapses in compressed sparse row form, by source.
#[derive(Debug, Clone, PartialEq)]
pub struct Connectivity {
    n_pre: usize,
    n_post: usize,
    row_ptr: Vec<usize>,
    targets: Vec<u32>,
    /// For explicit lists: CSR position -> position in the input lists (None = identity).
    order: Option<Vec<usize>>,
}

/// Synapses placed at an offset inside a larger matrix (see [`Connectivity::stack`]).
#[derive(Debug, Clone, PartialEq)]
pub struct Block {
    /// The block's synapses, indexed from 0 in both directions.
    pub synapses: Connectivity,
    /// Where the block's first source lies in the larger matrix.
    pub pre_offset: usize,
    /// Where the block's first target lies in the larger matrix.
    pub post_offset: usize,
}

impl Block {
    fn overlaps(&self, other: &Block) -> bool {
        let meet = |a: usize, n: usize, b: usize, m: usize| a < b + m && b < a + n;
        meet(
            self.pre_offset,
            self.synapses.n_pre,
            other.pre_offset,
            other.synapses.n_pre,
        ) && meet(
            self.post_offset,
            self.synapses.n_post,
            other.post_offset,
            other.synapses.n_post,
        )
    }
}

impl std::fmt::Display for Block {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "a {}x{} block at ({}, {})",
            self.synapses.n_pre, self.synapses.n_post, self.pre_offset, self.post_offset
        )
    }
}

fn check_size(what: &str, n: usize) -> Result<()> {
    if n > u32::MAX as usize {
        return Err(SimError::invalid(
            what,
            format!("{n} neurons exceed the engine's 2^32 limit"),
        ));
    }
    Ok(())
}

impl Connectivity {
    /// Generates the synapses of `rule` between `n_pre` sources and `n_post` targets.
    pub fn generate(
        rule: &Rule,
        n_pre: usize,
        n_post: usize,
        options: ConnectOptions,
    ) -> Result<Self> {
        check_size("n_pre", n_pre)?;
        check_size("n_post", n_post)?;
        let exclude_diagonal = !options.allow_self;
        let seed = options.seed;
        match rule {
            Rule::AllToAll => {
                let rows: Vec<Vec<u32>> = (0..n_pre)
                    .map(|i| {
                        (0..n_post as u32)
                            .filter(|&j| !(exclude_diagonal && j as usize == i))
                            .collect()
                    })
                    .collect();
                Self::from_rows(n_pre, n_post, rows)
            }
            Rule::OneToOne => {
                if n_pre != n_post {
                    return Err(SimError::invalid(
                        "one_to_one",
                        format!("needs as many sources as targets, got {n_pre} and {n_post}"),
                    ));
                }
                if exclude_diagonal && n_pre > 0 {
                    return Err(SimError::invalid(
                        "one_to_one",
                        "onto the same population every synapse is a self-connection: set allow_self",
                    ));
                }
                Self::from_rows(n_pre, n_post, (0..n_pre as u32).map(|i| vec![i]).collect())
            }
            Rule::FixedProbability { p } => {
                let p = *p;
                if !(0.0..=1.0).contains(&p) {
                    return Err(SimError::invalid(
                        "fixed_probability.p",
                        format!("must be in [0, 1], got {p}"),
                    ));
                }
                let rows: Vec<Vec<u32>> = (0..n_pre)
                    .into_par_iter()
                    .map(|i| {
                        let skip = exclude_diagonal && i < n_post;
                        let m = if skip { n_post - 1 } else { n_post };
                        let mut rng = Rng::stream(seed, i as u64);
                        bernoulli_row(&mut rng, m, p)
                            .into_iter()
                            .map(|c| if skip && c as usize >= i { c + 1 } else { c })
                            .collect()
                    })
                    .collect();
                Self::from_rows(n_pre, n_post, rows)
            }
            Rule::FixedOutDegree { k } => {
                let k = *k;
                let flat = sample_rows(
                    n_pre,
                    n_post,
                    k,
                    exclude_diagonal,
                    options,
                    "fixed_out_degree",
                )?;
                let row_ptr = (0..=n_pre).map(|i| i * k).collect();
                Ok(Connectivity {
                    n_pre,
                    n_post,
                    row_ptr,
                    targets: flat,
                    order: None,
                })
            }
            Rule::FixedInDegree { k } => {
                let k = *k;
                // Rows here are targets; transpose to CSR by source (stable: targets ascending).
                let sources = sample_rows(
                    n_post,
                    n_pre,
                    k,
                    exclude_diagonal,
                    options,
                    "fixed_in_degree",
                )?;
                let mut counts = vec![0usize; n_pre + 1];
                for &i in &sources {
                    counts[i as usize + 1] += 1;
                }
                for i in 0..n_pre {
                    counts[i + 1] += counts[i];
                }
                let row_ptr = counts.clone();
                let mut fill = counts;
                let mut targets = crate::memory::zeroed::<u32>(sources.len());
                for (slot, &i) in sources.iter().enumerate() {
                    let j = (slot / k.max(1)) as u32;
                    targets[fill[i as usize]] = j;
                    fill[i as usize] += 1;
                }
                Ok(Connectivity {
                    n_pre,
                    n_post,
                    row_ptr,
                    targets,
                    order: None,
                })
            }
            Rule::Explicit { pre, post } => Self::from_lists(n_pre, n_post, pre, post),
        }
    }

    /// Builds from explicit `pre[s] -> post[s]` lists (kept in their order within a source).
    pub fn from_lists(n_pre: usize, n_post: usize, pre: &[u32], post: &[u32]) -> Result<Self> {
        if pre.len() != post.len() {
            return Err(SimError::length(
                "explicit connection post list",
                pre.len(),
                post.len(),
            ));
        }
        for &i in pre {
            if i as usize >= n_pre {
                return Err(SimError::index("pre-synaptic neuron", i as usize, n_pre));
            }
        }
        for &j in post {
            if j as usize >= n_post {
                return Err(SimError::index("post-synaptic neuron", j as usize, n_post));
            }
        }
        let mut row_ptr = vec![0usize; n_pre + 1];
        for &i in pre {
            row_ptr[i as usize + 1] += 1;
        }
        for i in 0..n_pre {
            row_ptr[i + 1] += row_ptr[i];
        }
        let mut fill = row_ptr.clone();
        let mut targets = crate::memory::zeroed::<u32>(pre.len());
        let mut order = vec![0usize; pre.len()];
        for (s, (&i, &j)) in pre.iter().zip(post).enumerate() {
            let slot = fill[i as usize];
            targets[slot] = j;
            order[slot] = s;
            fill[i as usize] += 1;
        }
        let identity = order.iter().enumerate().all(|(a, &b)| a == b);
        Ok(Connectivity {
            n_pre,
            n_post,
            row_ptr,
            targets,
            order: (!identity).then_some(order),
        })
    }

    fn from_rows(n_pre: usize, n_post: usize, rows: Vec<Vec<u32>>) -> Result<Self> {
        let mut row_ptr = Vec::with_capacity(n_pre + 1);
        row_ptr.push(0);
        let total: usize = rows.iter().map(Vec::len).sum();
        let mut targets = Vec::with_capacity(total);
        crate::memory::advise(&mut targets);
        for row in rows {
            targets.extend_from_slice(&row);
            row_ptr.push(targets.len());
        }
        Ok(Connectivity {
            n_pre,
            n_post,
            row_ptr,
            targets,
            order: None,
        })
    }

    /// Places blocks of synapses inside one `n_pre x n_post` matrix, each block's sources
    /// shifted by its `pre_offset` and targets by its `post_offset`: populations that run as
    /// one (Brian2's subgroups, `connect('i < 3200', p=...)`) get one table for what were
    /// several. A row lists its blocks' targets by ascending `post_offset`, so rows that
    /// ascended in every block still ascend. Blocks that share sources must not share
    /// targets. With one block its input order carries over; the input order of several is
    /// the CSR order.
    pub fn stack(n_pre: usize, n_post: usize, mut blocks: Vec<Block>) -> Result<Self> {
        check_size("n_pre", n_pre)?;
        check_size("n_post", n_post)?;
        for b in &blocks {
            if b.pre_offset + b.synapses.n_pre > n_pre || b.post_offset + b.synapses.n_post > n_post
            {
                return Err(SimError::invalid(
                    "connectivity.stack",
                    format!("{b} does not fit in {n_pre}x{n_post}"),
                ));
            }
        }
        for (k, a) in blocks.iter().enumerate() {
            if let Some(b) = blocks[k + 1..].iter().find(|b| a.overlaps(b)) {
                return Err(SimError::invalid(
                    "connectivity.stack",
                    format!("{a} and {b} overlap"),
                ));
            }
        }
        let order = match blocks.as_mut_slice() {
            [one] => one.synapses.order.take(),
            _ => None,
        };
        blocks.sort_by_key(|b| b.post_offset);
        let mut row_ptr = vec![0usize; n_pre + 1];
        for b in &blocks {
            for i in 0..b.synapses.n_pre {
                row_ptr[b.pre_offset + i + 1] += b.synapses.row(i).len();
            }
        }
        for i in 0..n_pre {
            row_ptr[i + 1] += row_ptr[i];
        }
        let mut targets = crate::memory::zeroed::<u32>(row_ptr[n_pre]);
        let mut fill = row_ptr[..n_pre].to_vec();
        for b in &blocks {
            let shift = b.post_offset as u32;
            for i in 0..b.synapses.n_pre {
                let row = b.synapses.row(i);
                let at = &mut fill[b.pre_offset + i];
                for (slot, &j) in targets[*at..*at + row.len()].iter_mut().zip(row) {
                    *slot = j + shift;
                }
                *at += row.len();
            }
        }
        Ok(Connectivity {
            n_pre,
            n_post,
            row_ptr,
            targets,
            order,
        })
    }

    /// Takes the CSR arrays apart: `(row_ptr, targets, input order)`.
    pub(crate) fn into_parts(self) -> (Vec<usize>, Vec<u32>, Option<Vec<usize>>) {
        (self.row_ptr, self.targets, self.order)
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

    /// Row offsets (length `n_pre + 1`).
    pub fn row_ptr(&self) -> &[usize] {
        &self.row_ptr
    }

    /// Targets of all synapses, row after row.
    pub fn targets(&self) -> &[u32] {
        &self.targets
    }

    /// Targets of source `i`.
    pub fn row(&self, i: usize) -> &[u32] {
        &self.targets[self.row_ptr[i]..self.row_ptr[i + 1]]
    }

    /// For connectivity built from explicit lists: CSR position -> input position (None when
    /// the input was already grouped by source, i.e. the identity).
    pub fn input_order(&self) -> Option<&[usize]> {
        self.order.as_deref()
    }

    /// The synapses as `(pre, post)` lists in CSR order.
    pub fn to_lists(&self) -> (Vec<u32>, Vec<u32>) {
        let mut pre = Vec::with_capacity(self.targets.len());
        for i in 0..self.n_pre {
            pre.extend(std::iter::repeat_n(
                i as u32,
                self.row_ptr[i + 1] - self.row_ptr[i],
            ));
        }
        (pre, self.targets.clone())
    }

    /// Number of synapses into each target.
    pub fn in_degrees(&self) -> Vec<usize> {
        let mut d = vec![0usize; self.n_post];
        for &j in &self.targets {
            d[j as usize] += 1;
        }
        d
    }
}

/// Indices `c < m` each kept with probability `p`, by geometric skipping (O(kept)).
fn bernoulli_row(rng: &mut Rng, m: usize, p: f64) -> Vec<u32> {
    let mut out = Vec::new();
    if p <= 0.0 || m == 0 {
        return out;
    }
    if p >= 1.0 {
        return (0..m as u32).collect();
    }
    let ln_q = (-p).ln_1p();
    let mut c = rng.geometric(ln_q);
    while c < m as u64 {
        out.push(c as u32);
        c = c.saturating_add(1).saturating_add(rng.geometric(ln_q));
    }
    out
}

/// `n_rows` rows of exactly `k` draws from `[0, m)` (distinct unless multapses are allowed,
/// never `row` itself when `exclude_diagonal`), each sorted; flattened row after row.
fn sample_rows(
    n_rows: usize,
    m: usize,
    k: usize,
    exclude_diagonal: bool,
    options: ConnectOptions,
    rule: &str,
) -> Result<Vec<u32>> {
    let mut flat = crate::memory::zeroed::<u32>(n_rows * k);
    if k == 0 || n_rows == 0 {
        return Ok(flat);
    }
    let available = |row: usize| {
        if exclude_diagonal && row < m {
            m - 1
        } else {
            m
        }
    };
    // Row 0 is always below m when m > 0, so with the diagonal excluded some row has m - 1.
    let min_available = if exclude_diagonal && m > 0 { m - 1 } else { m };
    if min_available == 0 || (!options.allow_multapses && k > min_available) {
        return Err(SimError::invalid(
            format!("{rule}.k"),
            format!("cannot draw {k} distinct partners out of {min_available} candidates"),
        ));
    }
    flat.par_chunks_mut(k).enumerate().for_each(|(row, out)| {
        let skip = exclude_diagonal && row < m;
        let candidates = available(row);
        let mut rng = Rng::stream(options.seed, row as u64);
        if options.allow_multapses {
            for x in out.iter_mut() {
                *x = rng.below(candidates as u64) as u32;
            }
            out.sort_unstable();
        } else {
            distinct_sorted(&mut rng, candidates, out);
        }
        if skip {
            for x in out.iter_mut() {
                if *x as usize >= row {
                    *x += 1;
                }
            }
        }
    });
    Ok(flat)
}

/// Fills `out` with `out.len()` distinct sorted values from `[0, m)`.
fn distinct_sorted(rng: &mut Rng, m: usize, out: &mut [u32]) {
    let k = out.len();
    if 2 * k <= m {
        // Rejection into a sorted buffer: at most ~2 draws per kept value.
        let mut chosen: Vec<u32> = Vec::with_capacity(k);
        while chosen.len() < k {
            let c = rng.below(m as u64) as u32;
            if let Err(pos) = chosen.binary_search(&c) {
                chosen.insert(pos, c);
            }
        }
        out.copy_from_slice(&chosen);
    } else {
        // Dense case: choose the m - k values to leave out instead.
        let mut excluded = vec![false; m];
        let mut left = m - k;
        while left > 0 {
            let c = rng.below(m as u64) as usize;
            if !excluded[c] {
                excluded[c] = true;
                left -= 1;
            }
        }
        let mut n = 0;
        for (c, &skip) in excluded.iter().enumerate() {
            if !skip {
                out[n] = c as u32;
                n += 1;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn opts(seed: u64) -> ConnectOptions {
        ConnectOptions {
            allow_self: false,
            allow_multapses: false,
            seed,
        }
    }

    #[test]
    fn all_to_all_and_one_to_one() {
        let c = Connectivity::generate(&Rule::AllToAll, 4, 4, opts(0)).unwrap();
        assert_eq!(c.n_synapses(), 12);
        assert_eq!(c.row(2), &[0, 1, 3]);
        let c = Connectivity::generate(
            &Rule::AllToAll,
            3,
            5,
            ConnectOptions {
                allow_self: true,
                ..opts(0)
            },
        )
        .unwrap();
        assert_eq!(c.n_synapses(), 15);
        let c = Connectivity::generate(
            &Rule::OneToOne,
            3,
            3,
            ConnectOptions {
                allow_self: true,
                ..opts(0)
            },
        )
        .unwrap();
        assert_eq!(c.to_lists(), (vec![0, 1, 2], vec![0, 1, 2]));
        assert!(Connectivity::generate(
            &Rule::OneToOne,
            3,
            4,
            ConnectOptions {
                allow_self: true,
                ..opts(0)
            }
        )
        .is_err());
        assert!(Connectivity::generate(&Rule::OneToOne, 3, 3, opts(0)).is_err());
    }

    #[test]
    fn fixed_probability_statistics_and_determinism() {
        let (n, p) = (2000, 0.05);
        let c = Connectivity::generate(&Rule::FixedProbability { p }, n, n, opts(11)).unwrap();
        let expected = p * (n * (n - 1)) as f64;
        let sd = (expected * (1.0 - p)).sqrt();
        let got = c.n_synapses() as f64;
        assert!(
            (got - expected).abs() < 5.0 * sd,
            "{got} vs {expected} +- {sd}"
        );
        // no self-connections, sorted rows, no duplicates
        for i in 0..n {
            let row = c.row(i);
            assert!(row.windows(2).all(|w| w[0] < w[1]));
            assert!(!row.contains(&(i as u32)));
        }
        // in-degrees are binomial: their variance matches
        let d = c.in_degrees();
        let mean = d.iter().sum::<usize>() as f64 / n as f64;
        let var = d.iter().map(|&x| (x as f64 - mean).powi(2)).sum::<f64>() / n as f64;
        let var_expected = (n - 1) as f64 * p * (1.0 - p);
        assert!(
            (var / var_expected - 1.0).abs() < 0.15,
            "var {var} vs {var_expected}"
        );
        let again = Connectivity::generate(&Rule::FixedProbability { p }, n, n, opts(11)).unwrap();
        assert_eq!(c, again);
        let other = Connectivity::generate(&Rule::FixedProbability { p }, n, n, opts(12)).unwrap();
        assert_ne!(c, other);
        assert!(Connectivity::generate(&Rule::FixedProbability { p: 1.5 }, 2, 2, opts(0)).is_err());
        let full =
            Connectivity::generate(&Rule::FixedProbability { p: 1.0 }, 3, 3, opts(0)).unwrap();
        assert_eq!(full.n_synapses(), 6);
    }

    #[test]
    fn fixed_in_degree_exact_distinct_uniform() {
        let (n_pre, n_post, k) = (1000, 500, 40);
        let c = Connectivity::generate(&Rule::FixedInDegree { k }, n_pre, n_post, opts(5)).unwrap();
        assert!(c.in_degrees().iter().all(|&d| d == k));
        let mut pairs: Vec<(u32, u32)> = Vec::new();
        for i in 0..n_pre {
            for &j in c.row(i) {
                assert_ne!(i as u32, j);
                pairs.push((i as u32, j));
            }
        }
        let total = pairs.len();
        pairs.sort_unstable();
        pairs.dedup();
        assert_eq!(pairs.len(), total, "multapses drawn");
        // out-degrees have mean k*n_post/n_pre and roughly binomial spread
        let mean = (k * n_post) as f64 / n_pre as f64;
        let out: Vec<f64> = (0..n_pre).map(|i| c.row(i).len() as f64).collect();
        let m = out.iter().sum::<f64>() / n_pre as f64;
        assert!((m - mean).abs() < 1e-9);
        let var = out.iter().map(|x| (x - m).powi(2)).sum::<f64>() / n_pre as f64;
        assert!((var / mean - 1.0).abs() < 0.2, "var {var} mean {mean}");
        assert_eq!(
            c,
            Connectivity::generate(&Rule::FixedInDegree { k }, n_pre, n_post, opts(5)).unwrap()
        );
        assert!(Connectivity::generate(&Rule::FixedInDegree { k: 10 }, 10, 10, opts(0)).is_err());
        let dense = Connectivity::generate(&Rule::FixedInDegree { k: 9 }, 10, 10, opts(0)).unwrap();
        assert_eq!(dense.n_synapses(), 90);
        let multi = Connectivity::generate(
            &Rule::FixedInDegree { k: 30 },
            10,
            10,
            ConnectOptions {
                allow_multapses: true,
                ..opts(0)
            },
        )
        .unwrap();
        assert!(multi.in_degrees().iter().all(|&d| d == 30));
    }

    #[test]
    fn fixed_out_degree_exact() {
        let c = Connectivity::generate(&Rule::FixedOutDegree { k: 25 }, 300, 300, opts(9)).unwrap();
        for i in 0..300 {
            let row = c.row(i);
            assert_eq!(row.len(), 25);
            assert!(row.windows(2).all(|w| w[0] < w[1]));
            assert!(!row.contains(&(i as u32)));
        }
        let d = c.in_degrees();
        let var = d.iter().map(|&x| (x as f64 - 25.0).powi(2)).sum::<f64>() / 300.0;
        assert!((var / 25.0 - 1.0).abs() < 0.3, "var {var}");
    }

    #[test]
    fn generation_does_not_depend_on_thread_count() {
        let rule = Rule::FixedProbability { p: 0.1 };
        let one = rayon::ThreadPoolBuilder::new()
            .num_threads(1)
            .build()
            .unwrap();
        let two = rayon::ThreadPoolBuilder::new()
            .num_threads(2)
            .build()
            .unwrap();
        let a = one.install(|| Connectivity::generate(&rule, 3000, 3000, opts(1)).unwrap());
        let b = two.install(|| Connectivity::generate(&rule, 3000, 3000, opts(1)).unwrap());
        assert_eq!(a, b);
        let rule = Rule::FixedInDegree { k: 50 };
        let a = one.install(|| Connectivity::generate(&rule, 3000, 3000, opts(1)).unwrap());
        let b = two.install(|| Connectivity::generate(&rule, 3000, 3000, opts(1)).unwrap());
        assert_eq!(a, b);
    }

    fn block(synapses: &Connectivity, pre_offset: usize, post_offset: usize) -> Block {
        Block {
            synapses: synapses.clone(),
            pre_offset,
            post_offset,
        }
    }

    #[test]
    fn a_stack_of_one_block_shifts_rows_and_targets_and_keeps_the_input_order() {
        let c = Connectivity::from_lists(2, 2, &[1, 0], &[1, 0]).unwrap();
        let e = Connectivity::stack(5, 4, vec![block(&c, 3, 1)]).unwrap();
        assert_eq!(e.to_lists(), (vec![3, 4], vec![1, 2]));
        assert_eq!(e.row(0), &[] as &[u32]);
        assert_eq!(e.row_ptr().len(), 6);
        assert_eq!(e.input_order(), Some(&[1, 0][..]));
        assert!(Connectivity::stack(4, 4, vec![block(&c, 3, 0)]).is_err());
    }

    #[test]
    fn stacked_blocks_list_each_row_by_target_and_must_not_overlap() {
        // E -> E and E -> I of a 3 + 2 network, given I first: each row still ascends
        let ee = Connectivity::from_lists(3, 3, &[0, 0, 2], &[1, 2, 0]).unwrap();
        let ei = Connectivity::from_lists(3, 2, &[0, 1], &[1, 0]).unwrap();
        let ie = Connectivity::from_lists(2, 3, &[1], &[2]).unwrap();
        let s = Connectivity::stack(
            5,
            5,
            vec![block(&ei, 0, 3), block(&ee, 0, 0), block(&ie, 3, 0)],
        )
        .unwrap();
        assert_eq!(s.row(0), &[1, 2, 4]);
        assert_eq!(s.row(1), &[3]);
        assert_eq!(s.row(2), &[0]);
        assert_eq!(s.row(3), &[] as &[u32]);
        assert_eq!(s.row(4), &[2]);
        assert_eq!(s.input_order(), None);
        let clash = Connectivity::stack(5, 5, vec![block(&ee, 0, 0), block(&ei, 2, 2)]);
        assert!(clash.unwrap_err().to_string().contains("overlap"));
    }

    #[test]
    fn explicit_lists_keep_order_within_source() {
        let c = Connectivity::from_lists(3, 3, &[2, 0, 2, 1], &[0, 1, 2, 2]).unwrap();
        assert_eq!(c.row(2), &[0, 2]);
        assert_eq!(c.input_order(), Some(&[1, 3, 0, 2][..]));
        assert!(Connectivity::from_lists(3, 3, &[3], &[0]).is_err());
        assert!(Connectivity::from_lists(3, 3, &[0, 1], &[0]).is_err());
        let sorted = Connectivity::from_lists(3, 3, &[0, 0, 1], &[2, 1, 0]).unwrap();
        assert_eq!(sorted.input_order(), None);
        assert_eq!(sorted.row(0), &[2, 1]);
    }
}
