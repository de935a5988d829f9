//! Chemical composition of a cation-disordered rocksalt (DRX) cathode.
//!
//! [`Composition::parse`] reads a flat formula such as `Li1.2Mn0.4Ti0.4O1.6F0.4`, assigns an
//! oxidation state to every element (fixed-valence defaults, user overrides, and charge balance
//! for the redox-active transition metals), checks that the formula is a valid rocksalt (no more
//! cations than anion sites allow), and derives molar mass and theoretical capacities.
//!
//! Conventions:
//! * amounts are per formula unit (f.u.);
//! * every cation other than Li (Mg, Al, Ti, Nb, Mn, ...) is a "TM" for the purpose of the
//!   0-TM/1-TM/... diffusion-channel classification;
//! * rocksalt: anions fill one fcc sublattice, cations the other, so the number of cation sites
//!   per f.u. equals the number of anions per f.u.; the remainder are cation vacancies.

use crate::error::{Error, Result};

/// Faraday constant in C/mol (CODATA 2018, exact since the 2019 SI redefinition: `N_A * e`).
pub const FARADAY_C_PER_MOL: f64 = 96485.33212;

/// The user-facing argument name for formula problems.
const FIELD_FORMULA: &str = "formula";
/// The user-facing argument name for oxidation-state overrides.
const FIELD_OXIDATION: &str = "oxidation_states";

/// Largest allowed |total charge| per formula unit after the oxidation states are assigned.
const CHARGE_TOLERANCE: f64 = 1e-3;
/// Slack (in oxidation-state units) allowed when a charge-balancing state falls just outside
/// its range, to absorb rounding in formulas such as `Li1.211Mo0.467Cr0.3O2`.
const RANGE_TOLERANCE: f64 = 0.01;
/// Cation vacancies per f.u. below `-VACANCY_TOLERANCE` mean more cations than anion sites.
const VACANCY_TOLERANCE: f64 = 1e-6;
/// Largest oxidation state accepted as a user override for a cation (Os/Ru(VIII) is the
/// chemical maximum).
const MAX_CATION_STATE: f64 = 8.0;
/// Most negative oxidation state accepted as a user override for an anion (nitride-like).
const MIN_ANION_STATE: f64 = -3.0;

/// How an element's oxidation state is chosen.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Valence {
    /// A cation with a single oxidation state in DRX cathodes (Li, Mg, Al, Ti, Nb, ...).
    Fixed(f64),
    /// A redox-active cation with its oxidation-state range in DRX cathodes and its place in
    /// the charge order (`REDOX_ORDER`), which decides the states when several share the
    /// charge balancing.
    Redox { min: f64, max: f64 },
    /// An anion with a fixed (negative) oxidation state.
    Anion(f64),
}

/// One row of the element table.
#[derive(Debug, PartialEq)]
struct ElementData {
    symbol: &'static str,
    /// Standard atomic weight (dimensionless; numerically g/mol).
    atomic_weight: f64,
    valence: Valence,
}

const fn fixed(symbol: &'static str, atomic_weight: f64, state: f64) -> ElementData {
    ElementData { symbol, atomic_weight, valence: Valence::Fixed(state) }
}

const fn redox(symbol: &'static str, atomic_weight: f64, min: f64, max: f64) -> ElementData {
    ElementData { symbol, atomic_weight, valence: Valence::Redox { min, max } }
}

/// The order in which the redox-active metals are oxidised on charge: their couples from the
/// lowest to the highest voltage vs Li/Li+ in oxides (V3+/V5+ ≈ 2.5–3 V, Mo4+/Mo6+ ≈ 3 V,
/// Mn2+/Mn4+ 3–4 V, Fe, Ru, Cr3+/Cr6+ ≈ 4 V, Co, Rh, Ni2+/Ni4+ 4–4.7 V, Cu; the relative
/// energies of the couples in J. B. Goodenough, Y. Kim, Chem. Mater. 22, 587 (2010) and
/// the DRX review of R. J. Clément, Z. Lun, G. Ceder, Energy Environ. Sci. 13, 345 (2020)).
///
/// The as-made (discharged) material holds the electrons in the highest-voltage couples, so
/// when several redox-active metals share the charge balance they start at the bottom of their
/// ranges and are oxidised in this order until the charge balances: Li1.2Ni0.2Mn0.6O2 gives
/// Ni2+ and Mn4+ (as measured for Li-rich Li[Li0.2Ni0.2Mn0.6]O2), Li1.2Ni1/3Ti1/3Mo2/15O2
/// gives Ni2+ and Mo6+ (J. Lee et al., Energy Environ. Sci. 8, 3255 (2015)). An approximate
/// convention: give `oxidation_states` where a measurement says otherwise.
const REDOX_ORDER: [&str; 10] = ["V", "Mo", "Mn", "Fe", "Ru", "Cr", "Co", "Rh", "Ni", "Cu"];

/// A cation's part in redox on cycling: its as-made (average) oxidation state, the lowest and
/// highest states of its DRX range (both equal to the state for a fixed-valence cation), and
/// its place in `REDOX_ORDER` (oxidised in increasing rank on charge; `None`: fixed valence).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct RedoxWindow {
    pub state: f64,
    pub min: f64,
    pub max: f64,
    pub rank: Option<usize>,
}

/// Symbols of the redox-active metals in the order they are oxidised on charge.
pub fn redox_order() -> &'static [&'static str] {
    &REDOX_ORDER
}

const fn anion(symbol: &'static str, atomic_weight: f64, state: f64) -> ElementData {
    ElementData { symbol, atomic_weight, valence: Valence::Anion(state) }
}

/// Supported elements.
///
/// Atomic weights: IUPAC/CIAAW standard atomic weights 2021 (T. Prohaska et al., "Standard
/// atomic weights of the elements 2021 (IUPAC Technical Report)", Pure Appl. Chem. 94, 573
/// (2022)). For elements whose standard atomic weight is an interval (Li, Mg, O, Cl) the
/// conventional value from the same report is used (Li 6.94, Mg 24.305, O 15.999, Cl 35.45).
///
/// Oxidation states: fixed-valence cations take their only common state in oxides (Shannon,
/// Acta Cryst. A32, 751 (1976); Greenwood & Earnshaw, "Chemistry of the Elements", 2nd ed.).
/// Redox ranges for the active metals follow what is reported for DRX cathodes, reviewed in
/// R. J. Clément, Z. Lun, G. Ceder, Energy Environ. Sci. 13, 345 (2020):
/// * Mn 2..4: Mn3+/Mn4+ in Li1.2Mn0.4Ti0.4O2, Mn2+/Mn4+ double redox in fluorinated DRX
///   (J. Lee et al., Nature 556, 185 (2018));
/// * Ni 2..4: Ni2+/Ni4+ double redox (J. Lee et al., Energy Environ. Sci. 8, 3255 (2015));
/// * Co 2..4, Fe 2..4: M2+/M3+ in fluorinated and M3+/M4+ in oxide DRX;
/// * Cr 3..6: Cr3+/Cr6+ in Li1.211Mo0.467Cr0.3O2 (J. Lee et al., Science 343, 519 (2014));
/// * Mo 3..6: Mo3+ to Mo6+ (Mo4+/Mo6+ in the same Li-Mo-Cr-O and Li-Ni-Ti-Mo-O compounds);
/// * V 3..5: V3+/V5+ in Li2VO2F-type DRX;
/// * Cu 1..3, Ru 3..5 (Ru4+/Ru5+ in Li-rich ruthenates), Rh 3..4.
///
/// When several redox-active metals share the charge balance, `REDOX_ORDER` decides their
/// states.
const ELEMENTS: &[ElementData] = &[
    fixed("Li", 6.94, 1.0),
    fixed("Na", 22.98976928, 1.0),
    fixed("Mg", 24.305, 2.0),
    fixed("Al", 26.9815384, 3.0),
    fixed("Sc", 44.955907, 3.0),
    fixed("Ti", 47.867, 4.0),
    redox("V", 50.9415, 3.0, 5.0),
    redox("Cr", 51.9961, 3.0, 6.0),
    redox("Mn", 54.938043, 2.0, 4.0),
    redox("Fe", 55.845, 2.0, 4.0),
    redox("Co", 58.933194, 2.0, 4.0),
    redox("Ni", 58.6934, 2.0, 4.0),
    redox("Cu", 63.546, 1.0, 3.0),
    fixed("Zn", 65.38, 2.0),
    fixed("Ga", 69.723, 3.0),
    fixed("Zr", 91.224, 4.0),
    fixed("Nb", 92.90637, 5.0),
    redox("Mo", 95.95, 3.0, 6.0),
    redox("Ru", 101.07, 3.0, 5.0),
    redox("Rh", 102.90549, 3.0, 4.0),
    fixed("Sn", 118.710, 4.0),
    fixed("Sb", 121.760, 5.0),
    fixed("Ta", 180.94788, 5.0),
    fixed("W", 183.84, 6.0),
    anion("O", 15.999, -2.0),
    anion("F", 18.998403162, -1.0),
    anion("Cl", 35.45, -1.0),
];

/// All 118 element symbols, used only to tell "unsupported element" from "not an element".
const PERIODIC_TABLE: [&str; 118] = [
    "H", "He", "Li", "Be", "B", "C", "N", "O", "F", "Ne", "Na", "Mg", "Al", "Si", "P", "S", "Cl", "Ar", "K", "Ca",
    "Sc", "Ti", "V", "Cr", "Mn", "Fe", "Co", "Ni", "Cu", "Zn", "Ga", "Ge", "As", "Se", "Br", "Kr", "Rb", "Sr", "Y",
    "Zr", "Nb", "Mo", "Tc", "Ru", "Rh", "Pd", "Ag", "Cd", "In", "Sn", "Sb", "Te", "I", "Xe", "Cs", "Ba", "La", "Ce",
    "Pr", "Nd", "Pm", "Sm", "Eu", "Gd", "Tb", "Dy", "Ho", "Er", "Tm", "Yb", "Lu", "Hf", "Ta", "W", "Re", "Os", "Ir",
    "Pt", "Au", "Hg", "Tl", "Pb", "Bi", "Po", "At", "Rn", "Fr", "Ra", "Ac", "Th", "Pa", "U", "Np", "Pu", "Am", "Cm",
    "Bk", "Cf", "Es", "Fm", "Md", "No", "Lr", "Rf", "Db", "Sg", "Bh", "Hs", "Mt", "Ds", "Rg", "Cn", "Nh", "Fl", "Mc",
    "Lv", "Ts", "Og",
];

/// Non-metals that would act as anions (or anion-forming species) in a formula.
const NON_METAL_ANIONS: &[&str] = &["H", "B", "C", "N", "Si", "P", "S", "As", "Se", "Br", "Te", "I", "At"];

fn lookup(symbol: &str) -> Option<&'static ElementData> {
    ELEMENTS.iter().find(|e| e.symbol == symbol)
}

/// Symbols of every supported cation (Li and the "TMs").
pub fn cation_symbols() -> Vec<&'static str> {
    ELEMENTS.iter().filter(|e| !matches!(e.valence, Valence::Anion(_))).map(|e| e.symbol).collect()
}

/// A readable list of the supported cation symbols, for error messages.
fn supported_cations() -> String {
    cation_symbols().join(", ")
}

/// Explain why `symbol` is not in the element table.
fn unsupported_element(field: &str, symbol: &str) -> Error {
    if NON_METAL_ANIONS.contains(&symbol) {
        Error::composition(field, format!("anion '{symbol}' is not supported: only O, F and Cl anions are allowed"))
    } else if PERIODIC_TABLE.contains(&symbol) {
        Error::composition(
            field,
            format!(
                "element '{symbol}' is not supported; supported cations are {} and anions O, F, Cl",
                supported_cations()
            ),
        )
    } else {
        Error::composition(field, format!("unknown element symbol '{symbol}'"))
    }
}

/// One element of a parsed composition.
#[derive(Debug, Clone, PartialEq)]
struct Species {
    data: &'static ElementData,
    /// Amount per formula unit (> 0).
    amount: f64,
    /// Oxidation state assigned to this element (may be fractional: an average).
    state: f64,
}

impl Species {
    fn is_li(&self) -> bool {
        self.data.symbol == "Li"
    }
    fn is_anion(&self) -> bool {
        matches!(self.data.valence, Valence::Anion(_))
    }
    /// Non-Li cation ("TM" for the channel classification).
    fn is_tm(&self) -> bool {
        !self.is_li() && !self.is_anion()
    }
    fn redox_range(&self) -> Option<(f64, f64)> {
        match self.data.valence {
            Valence::Redox { min, max, .. } => Some((min, max)),
            _ => None,
        }
    }
}

/// The serialised form of a [`Composition`]: the user's input. Deserialising re-runs
/// [`Composition::parse`], so a deserialised composition is always valid.
#[derive(serde::Serialize, serde::Deserialize)]
struct CompositionInput {
    formula: String,
    #[serde(default)]
    oxidation_overrides: Vec<(String, f64)>,
}

/// A parsed, charge-balanced rocksalt composition (amounts per formula unit).
///
/// Serialises as its input (`formula` and `oxidation_overrides`); deserialising parses again
/// and fails with the same error as [`Composition::parse`] on invalid input.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(try_from = "CompositionInput", into = "CompositionInput")]
pub struct Composition {
    formula: String,
    overrides: Vec<(String, f64)>,
    /// Elements in formula order.
    species: Vec<Species>,
}

impl TryFrom<CompositionInput> for Composition {
    type Error = Error;
    fn try_from(input: CompositionInput) -> Result<Self> {
        Composition::parse(&input.formula, &input.oxidation_overrides)
    }
}

impl From<Composition> for CompositionInput {
    fn from(c: Composition) -> Self {
        CompositionInput { formula: c.formula, oxidation_overrides: c.overrides }
    }
}

/// Split a flat formula into `(symbol, amount)` pairs, in order.
fn tokenize(formula: &str) -> Result<Vec<(String, f64)>> {
    let err = |reason: String| Error::composition(FIELD_FORMULA, reason);
    if formula.is_empty() {
        return Err(err("is empty; expected e.g. \"Li1.2Mn0.4Ti0.4O2\"".into()));
    }
    let chars: Vec<char> = formula.chars().collect();
    let mut tokens = Vec::new();
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        if !c.is_ascii_uppercase() {
            let reason = match c {
                '(' | ')' | '[' | ']' | '{' | '}' => format!(
                    "parentheses/brackets are not supported (found '{c}' at position {i}); \
                     write every element once with its amount, e.g. \"Li1.2Mn0.4Ti0.4O2\""
                ),
                '-' => format!("negative amounts are not allowed (found '-' at position {i})"),
                c if c.is_whitespace() => {
                    format!("whitespace is not allowed (at position {i}) in {formula:?}")
                }
                c if c.is_ascii_lowercase() => format!(
                    "expected an element symbol starting with an uppercase letter at position \
                     {i}, found '{c}'"
                ),
                c if c.is_ascii_digit() || c == '.' => {
                    format!("amount at position {i} is not preceded by an element symbol")
                }
                c => format!("unexpected character '{c}' at position {i}"),
            };
            return Err(err(reason));
        }
        let mut symbol = String::from(c);
        i += 1;
        if i < chars.len() && chars[i].is_ascii_lowercase() {
            symbol.push(chars[i]);
            i += 1;
        }
        let start = i;
        while i < chars.len() && (chars[i].is_ascii_digit() || chars[i] == '.') {
            i += 1;
        }
        let amount = if start == i {
            1.0
        } else {
            let text: String = chars[start..i].iter().collect();
            let value: f64 = text.parse().map_err(|_| err(format!("invalid amount '{text}' after '{symbol}'")))?;
            if !value.is_finite() || value <= 0.0 {
                return Err(err(format!("amount of '{symbol}' must be a finite number > 0, got '{text}'")));
            }
            value
        };
        tokens.push((symbol, amount));
    }
    Ok(tokens)
}

/// Check a user override value for the element `data`.
fn check_override(data: &ElementData, value: f64) -> Result<()> {
    let symbol = data.symbol;
    if !value.is_finite() {
        return Err(Error::invalid(
            FIELD_OXIDATION,
            format!("oxidation state of {symbol} must be a finite number, got {value}"),
        ));
    }
    match data.valence {
        Valence::Anion(_) => {
            if !(MIN_ANION_STATE..0.0).contains(&value) {
                return Err(Error::invalid(
                    FIELD_OXIDATION,
                    format!(
                        "oxidation state of anion {symbol} must be in [{MIN_ANION_STATE}, 0), \
                         got {value}"
                    ),
                ));
            }
        }
        Valence::Fixed(_) => {
            if value <= 0.0 || value > MAX_CATION_STATE {
                return Err(Error::invalid(
                    FIELD_OXIDATION,
                    format!(
                        "oxidation state of cation {symbol} must be in (0, {MAX_CATION_STATE}], \
                         got {value}"
                    ),
                ));
            }
        }
        Valence::Redox { min, max, .. } => {
            if value < min - RANGE_TOLERANCE || value > max + RANGE_TOLERANCE {
                return Err(Error::invalid(
                    FIELD_OXIDATION,
                    format!(
                        "oxidation state of {symbol} must be within its range in DRX cathodes \
                         [{min}, {max}], got {value}"
                    ),
                ));
            }
        }
    }
    Ok(())
}

fn total_charge(species: &[Species]) -> f64 {
    species.iter().map(|s| s.amount * s.state).sum()
}

/// `Li+1, Mn+3.000, O-2` style listing for error messages.
fn describe_states(species: &[Species]) -> String {
    species.iter().map(|s| format!("{}{:+.3}", s.data.symbol, s.state)).collect::<Vec<_>>().join(", ")
}

/// Raise the states of the `free` species (all at the bottom of their ranges) in
/// `REDOX_ORDER`, each up to the top of its range, until the total charge has risen by `need`
/// (electrons per f.u.). Returns the part of `need` that could not be absorbed.
fn oxidise_in_redox_order(species: &mut [Species], free: &[usize], mut need: f64) -> f64 {
    let mut order = free.to_vec();
    order.sort_by_key(|&k| REDOX_ORDER.iter().position(|&s| s == species[k].data.symbol).unwrap_or(REDOX_ORDER.len()));
    for k in order {
        let s = &mut species[k];
        let (_, max) = s.redox_range().unwrap_or((s.state, s.state));
        let take = need.clamp(0.0, s.amount * (max - s.state));
        s.state += take / s.amount;
        need -= take;
    }
    need
}

impl Composition {
    /// Parse a flat formula such as `"Li1.2Mn0.4Ti0.4O1.6F0.4"` and assign oxidation states.
    ///
    /// Syntax: element symbols (uppercase letter + optional lowercase letter), each followed by
    /// an optional decimal amount per formula unit (default 1). No whitespace, parentheses,
    /// signs or exponents; each element at most once; amounts finite and > 0. The formula must
    /// contain Li and at least one anion; the only anions allowed are O, F and Cl.
    ///
    /// `oxidation_overrides`: `(symbol, state)` pairs replacing the default oxidation state of
    /// elements of the formula (error field `oxidation_states` for an unknown element, one not
    /// in the formula, one given twice, or an out-of-range value).
    ///
    /// Oxidation states: fixed-valence elements take their defaults (Li+1, Mg+2, Al+3, Ti+4,
    /// Nb+5, ..., O-2, F-1, Cl-1). If exactly one redox-active metal has no override its state
    /// is set to balance the charge and must lie within its DRX range (±0.01). If several
    /// lack overrides they start at the bottom of their ranges and are oxidised one after the
    /// other in the charge order `REDOX_ORDER` (V, Mo, Mn, Fe, Ru, Cr, Co, Rh, Ni, Cu) until
    /// the charge balances: Li1.2Mn0.2Ni0.2Ti0.4O2 gives Ni2+ and Mn4+. The
    /// final |total charge| must be below 1e-3 per f.u.; finally the cations must fit on the
    /// rocksalt cation sites (cations <= anions per f.u.).
    ///
    /// Charge-balance and site errors use the field `formula`, or `oxidation_states` when
    /// overrides were given (they may be the cause).
    pub fn parse(formula: &str, oxidation_overrides: &[(String, f64)]) -> Result<Composition> {
        // 1. Syntax and element table.
        let mut species: Vec<Species> = Vec::new();
        for (symbol, amount) in tokenize(formula)? {
            let data = lookup(&symbol).ok_or_else(|| unsupported_element(FIELD_FORMULA, &symbol))?;
            if species.iter().any(|s| s.data.symbol == symbol) {
                return Err(Error::composition(
                    FIELD_FORMULA,
                    format!(
                        "element '{symbol}' is given more than once; give each element once with \
                         its total amount"
                    ),
                ));
            }
            let state = match data.valence {
                Valence::Fixed(v) | Valence::Anion(v) => v,
                Valence::Redox { min, .. } => min,
            };
            species.push(Species { data, amount, state });
        }
        if !species.iter().any(Species::is_li) {
            return Err(Error::composition(FIELD_FORMULA, "must contain Li"));
        }
        if !species.iter().any(Species::is_anion) {
            return Err(Error::composition(FIELD_FORMULA, "must contain at least one anion (O, F or Cl)"));
        }

        // 2. User overrides.
        let mut overridden = vec![false; species.len()];
        for (symbol, value) in oxidation_overrides {
            let data = lookup(symbol).ok_or_else(|| unsupported_element(FIELD_OXIDATION, symbol))?;
            let Some(k) = species.iter().position(|s| s.data.symbol == symbol.as_str()) else {
                return Err(Error::invalid(
                    FIELD_OXIDATION,
                    format!("element '{symbol}' is not in the formula {formula:?}"),
                ));
            };
            if overridden[k] {
                return Err(Error::invalid(
                    FIELD_OXIDATION,
                    format!("oxidation state of '{symbol}' is given more than once"),
                ));
            }
            check_override(data, *value)?;
            species[k].state = *value;
            overridden[k] = true;
        }
        let balance_field = if oxidation_overrides.is_empty() { FIELD_FORMULA } else { FIELD_OXIDATION };

        // 3. Charge balance with the redox-active metals that have no override.
        let free: Vec<usize> =
            (0..species.len()).filter(|&k| !overridden[k] && species[k].redox_range().is_some()).collect();
        match free.as_slice() {
            [] => {}
            &[k] => {
                let rest: f64 =
                    species.iter().enumerate().filter(|&(j, _)| j != k).map(|(_, s)| s.amount * s.state).sum();
                let s = &mut species[k];
                let state = -rest / s.amount;
                let (min, max) = s.redox_range().unwrap_or((state, state));
                if !state.is_finite() || state < min - RANGE_TOLERANCE || state > max + RANGE_TOLERANCE {
                    return Err(Error::composition(
                        balance_field,
                        format!(
                            "{formula:?} is not charge balanced: it would need {} in oxidation \
                             state {state:+.3}, outside its range +{min}..+{max} in DRX cathodes",
                            s.data.symbol
                        ),
                    ));
                }
                s.state = state;
            }
            several => {
                let need = -total_charge(&species);
                let left = oxidise_in_redox_order(&mut species, several, need);
                if left.abs() >= CHARGE_TOLERANCE {
                    let ranges = several
                        .iter()
                        .map(|&k| {
                            let (min, max) = species[k].redox_range().unwrap_or((0.0, 0.0));
                            format!("{} +{min}..+{max}", species[k].data.symbol)
                        })
                        .collect::<Vec<_>>()
                        .join(", ");
                    return Err(Error::composition(
                        balance_field,
                        format!(
                            "{formula:?} cannot be charge balanced with the redox-active metals \
                             in their DRX ranges ({ranges}): the total charge stays {:+.4} per \
                             formula unit with {}",
                            -left,
                            describe_states(&species)
                        ),
                    ));
                }
            }
        }
        let charge = total_charge(&species);
        if !charge.is_finite() || charge.abs() >= CHARGE_TOLERANCE {
            return Err(Error::composition(
                balance_field,
                format!(
                    "{formula:?} is not charge balanced: total charge {charge:+.4} per formula \
                     unit with oxidation states {}",
                    describe_states(&species)
                ),
            ));
        }

        let composition =
            Composition { formula: formula.to_string(), overrides: oxidation_overrides.to_vec(), species };

        // 4. Rocksalt site balance.
        let vacancies = composition.cation_vacancies();
        if vacancies < -VACANCY_TOLERANCE {
            return Err(Error::composition(
                FIELD_FORMULA,
                format!(
                    "{formula:?} has more cations ({:.4}) than rocksalt cation sites ({:.4} = \
                     anions per formula unit)",
                    composition.cation_sites() - vacancies,
                    composition.cation_sites()
                ),
            ));
        }
        Ok(composition)
    }

    /// The formula exactly as given to [`Composition::parse`].
    pub fn formula(&self) -> &str {
        &self.formula
    }

    /// The oxidation states given to [`Composition::parse`] (not those it derived).
    pub fn oxidation_overrides(&self) -> &[(String, f64)] {
        &self.overrides
    }

    /// Li per formula unit.
    pub fn li(&self) -> f64 {
        self.species.iter().filter(|s| s.is_li()).map(|s| s.amount).sum()
    }

    /// Every non-Li cation (Mg, Al, Ti, Nb, Mn, ...: all count as "TM" for the diffusion-channel
    /// classification) with its amount per formula unit, in formula order.
    pub fn transition_metals(&self) -> Vec<(String, f64)> {
        self.species.iter().filter(|s| s.is_tm()).map(|s| (s.data.symbol.to_string(), s.amount)).collect()
    }

    /// Anions per formula unit as `(O, F, Cl)`.
    pub fn anions(&self) -> (f64, f64, f64) {
        let amount =
            |symbol: &str| self.species.iter().filter(|s| s.data.symbol == symbol).map(|s| s.amount).sum::<f64>();
        (amount("O"), amount("F"), amount("Cl"))
    }

    /// Cation sites per formula unit; in rocksalt this equals the anions per formula unit.
    pub fn cation_sites(&self) -> f64 {
        self.species.iter().filter(|s| s.is_anion()).map(|s| s.amount).sum()
    }

    /// Cation vacancies per formula unit: `cation_sites - li - sum(TM)` (>= 0 up to 1e-6 for
    /// any parsed composition).
    pub fn cation_vacancies(&self) -> f64 {
        let cations: f64 = self.species.iter().filter(|s| !s.is_anion()).map(|s| s.amount).sum();
        self.cation_sites() - cations
    }

    /// The oxidation state used for every element, in formula order (an average where it was
    /// obtained from charge balance, so it may be fractional).
    pub fn oxidation_states(&self) -> Vec<(String, f64)> {
        self.species.iter().map(|s| (s.data.symbol.to_string(), s.state)).collect()
    }

    /// Molar mass in g/mol of one formula unit (IUPAC 2021 standard atomic weights).
    pub fn molar_mass_g_mol(&self) -> f64 {
        self.species.iter().map(|s| s.amount * s.data.atomic_weight).sum()
    }

    /// Theoretical capacity in mAh/g if all Li is extracted (`li()` electrons per f.u.).
    pub fn capacity_all_li_mah_g(&self) -> f64 {
        Self::capacity_mah_g(self.li(), self.molar_mass_g_mol())
    }

    /// Theoretical capacity in mAh/g from transition-metal redox alone: every redox-active
    /// metal oxidised to the top of its DRX range, capped at all Li extracted
    /// (`tm_redox_electrons()` electrons per f.u.).
    pub fn capacity_tm_redox_mah_g(&self) -> f64 {
        Self::capacity_mah_g(self.tm_redox_electrons(), self.molar_mass_g_mol())
    }

    /// Electrons per formula unit available from transition-metal redox:
    /// `min(li, sum over redox-active metals of amount * (max_state - state))`.
    pub fn tm_redox_electrons(&self) -> f64 {
        let electrons: f64 = self
            .species
            .iter()
            .filter_map(|s| s.redox_range().map(|(_, max)| s.amount * (max - s.state).max(0.0)))
            .sum();
        electrons.min(self.li())
    }

    /// How `symbol` (a cation of this composition) takes part in redox on cycling; `None` if
    /// it is not in the formula or is an anion.
    pub fn redox_window(&self, symbol: &str) -> Option<RedoxWindow> {
        let s = self.species.iter().find(|s| s.data.symbol == symbol && !s.is_anion())?;
        let (min, max) = s.redox_range().unwrap_or((s.state, s.state));
        let rank = s.redox_range().and_then(|_| REDOX_ORDER.iter().position(|&r| r == symbol));
        Some(RedoxWindow { state: s.state, min, max, rank })
    }

    /// Capacity in mAh/g of one electron per formula unit.
    pub fn capacity_per_electron_mah_g(&self) -> f64 {
        Self::capacity_mah_g(1.0, self.molar_mass_g_mol())
    }

    /// Capacity in mAh/g of `electrons_per_fu` electrons per formula unit of molar mass
    /// `molar_mass` (g/mol): `n * F / (3.6 * M)` (1 mAh = 3.6 C). Returns a non-finite value if
    /// `molar_mass` is zero.
    pub fn capacity_mah_g(electrons_per_fu: f64, molar_mass: f64) -> f64 {
        electrons_per_fu * FARADAY_C_PER_MOL / (3.6 * molar_mass)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    // Standard atomic weights (IUPAC 2021, conventional values for Li, O, Cl), typed in by hand.
    const LI: f64 = 6.94;
    const MN: f64 = 54.938043;
    const TI: f64 = 47.867;
    const O: f64 = 15.999;
    const F: f64 = 18.998403162;
    const CL: f64 = 35.45;
    const MO: f64 = 95.95;
    const CR: f64 = 51.9961;
    const NB: f64 = 92.90637;

    fn parse(formula: &str) -> Composition {
        Composition::parse(formula, &[]).unwrap_or_else(|e| panic!("{formula}: {e}"))
    }

    fn state(c: &Composition, symbol: &str) -> f64 {
        c.oxidation_states()
            .into_iter()
            .find(|(s, _)| s == symbol)
            .map(|(_, v)| v)
            .unwrap_or_else(|| panic!("{symbol} missing"))
    }

    fn err(formula: &str, overrides: &[(String, f64)]) -> Error {
        match Composition::parse(formula, overrides) {
            Ok(c) => panic!("{formula:?} should fail, parsed as {c:?}"),
            Err(e) => e,
        }
    }

    fn ov(symbol: &str, value: f64) -> (String, f64) {
        (symbol.to_string(), value)
    }

    fn close(a: f64, b: f64, tol: f64) {
        assert!((a - b).abs() <= tol, "{a} != {b} (tol {tol})");
    }

    #[test]
    fn faraday_constant() {
        assert_eq!(FARADAY_C_PER_MOL, 96485.33212);
        // 1 e per f.u. of a 1000 g/mol compound: 96485.33212 / 3600 mAh/g.
        close(Composition::capacity_mah_g(1.0, 1000.0), 26.80148114444, 1e-9);
    }

    #[test]
    fn li_mn_ti_oxide() {
        let c = parse("Li1.2Mn0.4Ti0.4O2");
        assert_eq!(c.formula(), "Li1.2Mn0.4Ti0.4O2");
        close(c.li(), 1.2, 1e-12);
        assert_eq!(c.transition_metals(), vec![("Mn".to_string(), 0.4), ("Ti".to_string(), 0.4)]);
        assert_eq!(c.anions(), (2.0, 0.0, 0.0));
        close(c.cation_sites(), 2.0, 1e-12);
        close(c.cation_vacancies(), 0.0, 1e-12);
        // 1.2*(+1) + 0.4*(+4) + 0.4*x + 2*(-2) = 0  =>  x = 3.
        close(state(&c, "Mn"), 3.0, 1e-9);
        assert_eq!(state(&c, "Li"), 1.0);
        assert_eq!(state(&c, "Ti"), 4.0);
        assert_eq!(state(&c, "O"), -2.0);
        // Mn3+ -> Mn4+: 0.4 e per f.u.
        close(c.tm_redox_electrons(), 0.4, 1e-9);
        // M = 1.2*6.94 + 0.4*54.938043 + 0.4*47.867 + 2*15.999
        //   = 8.328 + 21.9752172 + 19.1468 + 31.998 = 81.4480172 g/mol.
        close(c.molar_mass_g_mol(), 81.4480172, 1e-9);
        close(1.2 * LI + 0.4 * MN + 0.4 * TI + 2.0 * O, 81.4480172, 1e-9);
        // 96485.33212 / (3.6 * 81.4480172) = 329.06241 mAh/g per electron.
        close(c.capacity_per_electron_mah_g(), 329.06241, 1e-4);
        close(c.capacity_all_li_mah_g(), 1.2 * 329.06241, 1e-3);
        close(c.capacity_tm_redox_mah_g(), 0.4 * 329.06241, 1e-3);
    }

    #[test]
    fn li_mn_ti_oxyfluoride() {
        let c = parse("Li1.2Mn0.4Ti0.4O1.6F0.4");
        // 1.2 + 1.6 + 0.4x - 3.2 - 0.4 = 0  =>  x = 2.
        close(state(&c, "Mn"), 2.0, 1e-9);
        assert_eq!(state(&c, "F"), -1.0);
        // Mn2+ -> Mn4+: 0.4 * 2 = 0.8 e.
        close(c.tm_redox_electrons(), 0.8, 1e-9);
        assert_eq!(c.anions(), (1.6, 0.4, 0.0));
        close(c.cation_vacancies(), 0.0, 1e-12);
        let m = 1.2 * LI + 0.4 * MN + 0.4 * TI + 1.6 * O + 0.4 * F;
        close(m, 82.6477784648, 1e-9);
        close(c.molar_mass_g_mol(), 82.6477784648, 1e-9);
        // 0.8 * 96485.33212 / (3.6 * 82.6477784648) = 259.42845 mAh/g.
        close(c.capacity_tm_redox_mah_g(), 259.42845, 1e-4);
    }

    #[test]
    fn li_ti_mn_oxychloride() {
        let c = parse("Li1.225Ti0.45Mn0.325O1.9Cl0.1");
        assert_eq!(c.anions(), (1.9, 0.0, 0.1));
        // Cations 1.225 + 0.45 + 0.325 = 2.0 = anions: no vacancies.
        close(c.cation_vacancies(), 0.0, 1e-9);
        // 1.225 + 1.8 + 0.325x - 3.8 - 0.1 = 0  =>  x = 0.875 / 0.325.
        close(state(&c, "Mn"), 0.875 / 0.325, 1e-9);
        // M = 8.5015 + 21.54015 + 17.854863975 + 30.3981 + 3.545 = 81.839613975 g/mol.
        close(1.225 * LI + 0.45 * TI + 0.325 * MN + 1.9 * O + 0.1 * CL, 81.839613975, 1e-9);
        close(c.molar_mass_g_mol(), 81.839613975, 1e-9);
        close(c.capacity_per_electron_mah_g(), 96485.33212 / (3.6 * 81.839613975), 1e-9);
        close(c.capacity_per_electron_mah_g(), 327.48787, 1e-4);
        // Mn from 2.6923 to 4: 0.325 * (4 - 0.875/0.325) = 1.3 - 0.875 = 0.425 e.
        close(c.tm_redox_electrons(), 0.425, 1e-9);
    }

    #[test]
    fn li_mo_cr_oxide_balances_in_redox_order_and_caps_at_li() {
        let c = parse("Li1.211Mo0.467Cr0.3O2");
        // Both at the bottom (Mo3, Cr3): 1.211 + 1.401 + 0.9 = 3.512; Mo, oxidised before Cr,
        // takes the missing 0.488 e: Mo 3 + 0.488/0.467 ≈ 4.045, Cr3+ (Lee et al. 2014).
        close(state(&c, "Mo"), 3.0 + 0.488 / 0.467, 1e-9);
        close(state(&c, "Cr"), 3.0, 1e-12);
        // Mo to 6 and Cr to 6: 0.467*(6 - 4.045) + 0.3*3 = 1.813 > Li 1.211 -> capped.
        close(c.tm_redox_electrons(), 1.211, 1e-12);
        close(c.cation_vacancies(), 2.0 - 1.978, 1e-9);
        let m = 1.211 * LI + 0.467 * MO + 0.3 * CR + 2.0 * O;
        close(m, 100.80982, 1e-9);
        close(c.molar_mass_g_mol(), 100.80982, 1e-9);
        close(c.capacity_tm_redox_mah_g(), c.capacity_all_li_mah_g(), 1e-12);
        close(c.capacity_all_li_mah_g(), 321.95865, 1e-4);
    }

    #[test]
    fn li_nb_mn_oxide() {
        let c = parse("Li1.25Nb0.25Mn0.5O2");
        // 1.25 + 1.25 + 0.5x - 4 = 0  =>  x = 3.
        close(state(&c, "Mn"), 3.0, 1e-9);
        assert_eq!(state(&c, "Nb"), 5.0);
        close(c.tm_redox_electrons(), 0.5, 1e-9);
        close(c.molar_mass_g_mol(), 1.25 * LI + 0.25 * NB + 0.5 * MN + 2.0 * O, 1e-9);
        assert_eq!(c.transition_metals(), vec![("Nb".to_string(), 0.25), ("Mn".to_string(), 0.5)]);
    }

    #[test]
    fn default_amount_is_one() {
        let c = parse("LiMnO2");
        close(c.li(), 1.0, 0.0);
        assert_eq!(c.anions(), (2.0, 0.0, 0.0));
        close(state(&c, "Mn"), 3.0, 1e-12);
        close(c.molar_mass_g_mol(), LI + MN + 2.0 * O, 1e-9);
    }

    #[test]
    fn vacancies() {
        let c = parse("Li1.1Mn0.8O2");
        close(c.cation_vacancies(), 0.1, 1e-9);
        // 1.1 + 0.8x = 4  =>  x = 3.625.
        close(state(&c, "Mn"), 3.625, 1e-9);
    }

    #[test]
    fn clamped_shared_balance() {
        // Start Cr3 Mn3: 1.2 + 0.6 + 1.8 - 2.8 - 0.6 = +0.2; Cr is already at its minimum (3),
        // so Mn alone drops: 0.6x = 3.4 - 1.2 - 0.6 = 1.6  =>  x = 8/3.
        let c = parse("Li1.2Cr0.2Mn0.6O1.4F0.6");
        close(state(&c, "Cr"), 3.0, 1e-12);
        close(state(&c, "Mn"), 1.6 / 0.6, 1e-9);
        // Cr 3->6: 0.6 e; Mn 8/3 -> 4: 0.8 e; total 1.4 capped at Li 1.2.
        close(c.tm_redox_electrons(), 1.2, 1e-9);
    }

    #[test]
    fn shared_balance_impossible() {
        // Anions -2 per f.u.; even with Cr3 and Mn2 (minima) the cations carry +3.0.
        let e = err("Li1.2Cr0.2Mn0.6F2", &[]);
        assert_eq!(e.field(), "formula");
        assert!(e.to_string().contains("charge"), "{e}");
    }

    #[test]
    fn overrides() {
        // Ni fixed at +2 by the user: Mn balances, 1.2 + 0.4 + 0.6x = 4  =>  x = 4.
        let c = Composition::parse("Li1.2Ni0.2Mn0.6O2", &[ov("Ni", 2.0)]).unwrap();
        close(state(&c, "Ni"), 2.0, 0.0);
        close(state(&c, "Mn"), 4.0, 1e-9);
        // Only Ni 2->4 remains: 0.4 e.
        close(c.tm_redox_electrons(), 0.4, 1e-9);

        // Without the override the redox order decides: both start at +2 (1.2 + 0.4 + 1.2 =
        // 2.8), Mn (oxidised first on charge) takes the missing 1.2 e: Mn 2 + 1.2/0.6 = 4, Ni2+,
        // the measured states of Li[Li0.2Ni0.2Mn0.6]O2 (the same as the Ni2+ override).
        let c = parse("Li1.2Ni0.2Mn0.6O2");
        close(state(&c, "Ni"), 2.0, 1e-12);
        close(state(&c, "Mn"), 4.0, 1e-9);
        // Li1.2Mn0.2Ni0.2Ti0.4O2: 1.2 + 1.6 + 0.4 + 0.4 = 3.6 at the bottom; Mn takes 0.4 e -> 4.
        let c = parse("Li1.2Mn0.2Ni0.2Ti0.4O2");
        close(state(&c, "Ni"), 2.0, 1e-12);
        close(state(&c, "Mn"), 4.0, 1e-9);
        close(c.tm_redox_electrons(), 0.4, 1e-9);
        // More than Mn can give: Li1.2Mn0.2Ni0.4Ti0.2O2 = 1.2 + 0.8 + 0.4 + 0.8 = 3.2; Mn 2->4
        // gives 0.4, Ni takes the remaining 0.4 e: 2 + 0.4/0.4 = 3.
        let c = parse("Li1.2Mn0.2Ni0.4Ti0.2O2");
        close(state(&c, "Mn"), 4.0, 1e-9);
        close(state(&c, "Ni"), 3.0, 1e-9);
        // Li1.2Ni1/3Ti1/3Mo2/15O2 (Lee et al. 2015): Mo before Ni, so Ni2+ and Mo6+.
        // (The rounded amounts leave 3e-6 e for Ni.)
        let c = parse("Li1.2Ni0.333333Ti0.333333Mo0.133333O2");
        close(state(&c, "Ni"), 2.0, 1e-4);
        close(state(&c, "Mo"), 6.0, 1e-4);

        // A fixed-valence override: Ti3+ makes Mn4+ in Li1.2Mn0.4Ti0.4O2 (1.2+1.2+0.4x=4).
        let c = Composition::parse("Li1.2Mn0.4Ti0.4O2", &[ov("Ti", 3.0)]).unwrap();
        close(state(&c, "Mn"), 4.0, 1e-9);
        close(c.tm_redox_electrons(), 0.0, 1e-9);
    }

    #[test]
    fn override_errors() {
        let f = "Li1.2Mn0.4Ti0.4O2";
        for bad in [
            vec![ov("Co", 3.0)],                // not in the formula
            vec![ov("Xx", 3.0)],                // not an element
            vec![ov("Mn", f64::NAN)],           // NaN
            vec![ov("Mn", f64::INFINITY)],      // infinite
            vec![ov("Mn", 7.0)],                // outside Mn 2..4
            vec![ov("Ti", -4.0)],               // cation with negative state
            vec![ov("O", 2.0)],                 // anion with positive state
            vec![ov("Mn", 3.0), ov("Mn", 3.0)], // twice
            vec![ov("Mn", 4.0)],                // charge imbalance +0.4 caused by override
        ] {
            let e = err(f, &bad);
            assert_eq!(e.field(), "oxidation_states", "{bad:?}: {e}");
        }
        assert!(err(f, &[ov("Co", 3.0)]).to_string().contains("Co"));
        assert!(err(f, &[ov("Mn", 4.0)]).to_string().contains("+0.4"));
    }

    #[test]
    fn charge_imbalance_fixed_valence() {
        // Li+1 Ti+4 O-2: 2 + 4 - 4 = +2.
        let e = err("Li2Ti1O2", &[]);
        assert_eq!(e.field(), "formula");
        let msg = e.to_string();
        assert!(msg.contains("charge") && msg.contains("+2.0"), "{msg}");
    }

    #[test]
    fn charge_imbalance_single_redox_out_of_range() {
        // 0.5 + 1.6 + 0.1x = 4  =>  x = 19, far above Mn 4.
        let e = err("Li0.5Mn0.1Ti0.4O2", &[]);
        assert_eq!(e.field(), "formula");
        assert!(e.to_string().contains("+19.000"), "{e}");
        // 2 + 1.6 + 0.4x = 4  =>  x = 1, below the Mn minimum of 2.
        assert_eq!(err("Li2Mn0.4Ti0.4O2", &[]).field(), "formula");
    }

    #[test]
    fn too_many_cations() {
        // Charge balanced (Mn2+: 2 + 2 - 4 = 0) but 3 cations on 2 sites.
        let e = err("Li2Mn1O2", &[]);
        assert_eq!(e.field(), "formula");
        assert!(e.to_string().contains("more cations"), "{e}");
    }

    #[test]
    fn syntax_errors() {
        for (formula, needle) in [
            ("", "empty"),
            ("Li1.2Xx0.4O2", "Xx"),
            ("Li1.2Mn0.4Ti0.4O2(", "parenthes"),
            ("Li1.2(Mn0.4Ti0.4)O2", "parenthes"),
            ("Li-1Mn0.4O2", "negative"),
            ("Li1.2Mn0.4Ti0.4Ti0.1O2", "more than once"),
            ("Li1.2Mn0.4Ti0.4O0", "> 0"),
            ("Li1.2Mn0.4Ti0.4O0.0", "> 0"),
            ("Li1..2Mn0.4Ti0.4O2", "invalid amount"),
            ("Li.Mn0.4Ti0.4O2", "invalid amount"),
            ("Li1.2 Mn0.4Ti0.4O2", "whitespace"),
            (" Li1.2Mn0.4Ti0.4O2", "whitespace"),
            ("li1.2Mn0.4Ti0.4O2", "uppercase"),
            ("1.2LiMnO2", "not preceded"),
            ("Li1e-3MnO2", "uppercase"),
            ("Li1.2Mn0.4Ti0.4O₂", "unexpected character"),
            ("Li1.2Mn0.4Ti0.4O+2", "unexpected character"),
            ("Mn1O1", "Li"),
            ("Li1Mn1", "anion"),
            ("Li2S1", "'S'"),
            ("Li1N1", "'N'"),
            ("Li1Bi1O2", "not supported"),
            ("Li1Qq1O1", "unknown"),
        ] {
            let e = err(formula, &[]);
            assert_eq!(e.field(), "formula", "{formula:?}: {e}");
            assert!(matches!(e, Error::Composition { .. }), "{formula:?}: {e:?}");
            assert!(e.to_string().contains(needle), "{formula:?}: {e} (expected {needle:?})");
        }
        // A 400-digit amount overflows to infinity and is rejected, not accepted.
        let huge = format!("Li{}MnO2", "9".repeat(400));
        assert_eq!(err(&huge, &[]).field(), "formula");
    }

    #[test]
    fn anion_overrides_and_order() {
        let c = parse("Li1.2Ti0.4Mn0.4O2");
        let states: Vec<String> = c.oxidation_states().into_iter().map(|(s, _)| s).collect();
        assert_eq!(states, ["Li", "Ti", "Mn", "O"]);
        assert_eq!(c.transition_metals()[0].0, "Ti");
    }

    #[test]
    fn no_panic_on_garbage() {
        // Deterministic pseudo-random strings from a formula-like alphabet: must never panic.
        let alphabet: Vec<char> = "LiMnTiOFClNbMoCrXx0123456789.()- eé".chars().collect();
        let mut x: u64 = 0x2545_F491_4F6C_DD1D;
        for _ in 0..20_000 {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            let len = (x % 14) as usize;
            let s: String = (0..len).map(|j| alphabet[((x >> (j * 4)) as usize + j * 7) % alphabet.len()]).collect();
            if let Ok(c) = Composition::parse(&s, &[]) {
                assert!(c.cation_vacancies() >= -1e-6);
                let q: f64 = c
                    .oxidation_states()
                    .iter()
                    .map(|(sym, v)| {
                        let amount = if sym == "Li" {
                            c.li()
                        } else if let Some((_, a)) = c.transition_metals().into_iter().find(|(t, _)| t == sym) {
                            a
                        } else {
                            match sym.as_str() {
                                "O" => c.anions().0,
                                "F" => c.anions().1,
                                _ => c.anions().2,
                            }
                        };
                        amount * v
                    })
                    .sum();
                assert!(q.abs() < 1e-3, "{s}: charge {q}");
            }
        }
    }

    #[test]
    fn serde_round_trip_reparses() {
        let c = Composition::parse("Li1.2Ni0.2Mn0.6O2", &[ov("Ni", 2.0)]).unwrap();
        let input = CompositionInput::from(c.clone());
        assert_eq!(input.formula, "Li1.2Ni0.2Mn0.6O2");
        assert_eq!(input.oxidation_overrides, vec![ov("Ni", 2.0)]);
        assert_eq!(Composition::try_from(input).unwrap(), c);
        let bad = CompositionInput { formula: "Li2Ti1O2".into(), oxidation_overrides: vec![] };
        assert!(Composition::try_from(bad).is_err());
    }

    #[test]
    fn element_table_is_consistent() {
        for (i, e) in ELEMENTS.iter().enumerate() {
            assert!(PERIODIC_TABLE.contains(&e.symbol), "{}", e.symbol);
            assert!(e.atomic_weight > 0.0);
            assert!(ELEMENTS[i + 1..].iter().all(|o| o.symbol != e.symbol), "{}", e.symbol);
            if let Valence::Redox { min, max } = e.valence {
                assert!(min < max, "{}", e.symbol);
                assert!(REDOX_ORDER.contains(&e.symbol), "{} has no place in the redox order", e.symbol);
            }
        }
        for required in [
            "Li", "Na", "Mg", "Al", "Sc", "Ti", "V", "Cr", "Mn", "Fe", "Co", "Ni", "Cu", "Zn", "Ga", "Zr", "Nb", "Mo",
            "Ru", "Rh", "Sn", "Sb", "Ta", "W", "O", "F", "Cl",
        ] {
            assert!(lookup(required).is_some(), "{required}");
        }
    }
}
