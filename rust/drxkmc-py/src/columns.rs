//! Result dicts from the core's serde-derived result structs, so that every result field is
//! declared once, in the core, under its Python name.
//!
//! `struct_to_dict`: one struct, each field a Python scalar or, for a sequence of numbers or
//! booleans, a numpy array of the field's own Rust type (`Vec<i32>` → int32).
//! `rows_to_dict`: a slice of row structs as a dict of columns, each a numpy array of the
//! field's type (a fixed-size array field gives a 2-D array, one row per struct) or a list of
//! str. Fields come in declaration order (serde's), flattened fields included.
use numpy::ndarray::Array2;
use numpy::{Element, IntoPyArray};
use pyo3::prelude::*;
use pyo3::types::{PyDict, PyList};
use pyo3::IntoPyObjectExt;
use serde::ser::{self, Impossible, Serialize};
use std::fmt::Display;

/// Why a value could not become a column (a result struct the columns cannot hold: a bug).
#[derive(Debug)]
pub(crate) struct ColumnError(String);

impl Display for ColumnError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}
impl std::error::Error for ColumnError {}
impl ser::Error for ColumnError {
    fn custom<T: Display>(msg: T) -> Self {
        ColumnError(msg.to_string())
    }
}
impl From<ColumnError> for PyErr {
    fn from(e: ColumnError) -> PyErr {
        pyo3::exceptions::PyRuntimeError::new_err(format!("result conversion: {e}"))
    }
}

type Res<T = ()> = Result<T, ColumnError>;

/// The values of one column, typed as serde reports them.
enum Values {
    Empty,
    Bool(Vec<bool>),
    U8(Vec<u8>),
    U32(Vec<u32>),
    U64(Vec<u64>),
    I32(Vec<i32>),
    I64(Vec<i64>),
    F64(Vec<f64>),
    Str(Vec<String>),
}

macro_rules! push {
    ($values:expr, $variant:ident, $v:expr) => {{
        match $values {
            Values::Empty => *$values = Values::$variant(vec![$v]),
            Values::$variant(x) => x.push($v),
            _ => return Err(ser::Error::custom("values of different types in one column")),
        }
        Ok(())
    }};
}

impl Values {
    /// The first value as a Python scalar (None if there is none).
    fn scalar(self, py: Python<'_>) -> PyResult<Py<PyAny>> {
        fn first<'py, T: IntoPyObjectExt<'py>>(py: Python<'py>, v: Vec<T>) -> PyResult<Py<PyAny>> {
            match v.into_iter().next() {
                Some(x) => x.into_py_any(py),
                None => Ok(py.None()),
            }
        }
        match self {
            Values::Empty => Ok(py.None()),
            Values::Bool(v) => first(py, v),
            Values::U8(v) => first(py, v),
            Values::U32(v) => first(py, v),
            Values::U64(v) => first(py, v),
            Values::I32(v) => first(py, v),
            Values::I64(v) => first(py, v),
            Values::F64(v) => first(py, v),
            Values::Str(v) => first(py, v),
        }
    }

    /// A numpy array (a list for strings), 2-D with `width` columns when given.
    fn array(self, py: Python<'_>, width: Option<usize>) -> PyResult<Py<PyAny>> {
        fn arr<T: Element>(py: Python<'_>, v: Vec<T>, width: Option<usize>) -> PyResult<Py<PyAny>> {
            match width {
                None => Ok(v.into_pyarray(py).into_any().unbind()),
                Some(w) => {
                    let rows = v.len().checked_div(w).unwrap_or(0);
                    let a = Array2::from_shape_vec((rows, w), v)
                        .map_err(|e| PyErr::from(ColumnError(format!("ragged 2-D column: {e}"))))?;
                    Ok(a.into_pyarray(py).into_any().unbind())
                }
            }
        }
        match self {
            Values::Empty => Ok(Vec::<f64>::new().into_pyarray(py).into_any().unbind()),
            Values::Bool(v) => arr(py, v, width),
            Values::U8(v) => arr(py, v, width),
            Values::U32(v) => arr(py, v, width),
            Values::U64(v) => arr(py, v, width),
            Values::I32(v) => arr(py, v, width),
            Values::I64(v) => arr(py, v, width),
            Values::F64(v) => arr(py, v, width),
            Values::Str(v) => Ok(PyList::new(py, v)?.into_any().unbind()),
        }
    }

    /// Room for `n` more values (once the type is known).
    fn reserve(&mut self, n: usize) {
        match self {
            Values::Empty => {}
            Values::Bool(v) => v.reserve(n),
            Values::U8(v) => v.reserve(n),
            Values::U32(v) => v.reserve(n),
            Values::U64(v) => v.reserve(n),
            Values::I32(v) => v.reserve(n),
            Values::I64(v) => v.reserve(n),
            Values::F64(v) => v.reserve(n),
            Values::Str(v) => v.reserve(n),
        }
    }

    /// No values, of the element type a `drxkmc_core::columns::array` newtype names.
    fn typed(name: &str) -> Option<Values> {
        Some(match name.strip_prefix("array:")? {
            "bool" => Values::Bool(Vec::new()),
            "u8" => Values::U8(Vec::new()),
            "u32" => Values::U32(Vec::new()),
            "i32" => Values::I32(Vec::new()),
            "u64" => Values::U64(Vec::new()),
            "f64" => Values::F64(Vec::new()),
            _ => return None,
        })
    }

    /// The same type with no values (a schema for zero rows).
    fn cleared(self) -> Values {
        match self {
            Values::Empty => Values::Empty,
            Values::Bool(_) => Values::Bool(Vec::new()),
            Values::U8(_) => Values::U8(Vec::new()),
            Values::U32(_) => Values::U32(Vec::new()),
            Values::U64(_) => Values::U64(Vec::new()),
            Values::I32(_) => Values::I32(Vec::new()),
            Values::I64(_) => Values::I64(Vec::new()),
            Values::F64(_) => Values::F64(Vec::new()),
            Values::Str(_) => Values::Str(Vec::new()),
        }
    }
}

/// One named column: its values and, for a field that is a sequence, its length (per row).
struct Column {
    name: String,
    values: Values,
    width: Option<usize>,
    /// Rows (or, for a struct, values) that wrote to it.
    entries: usize,
}

/// Columns by name, in the order fields first appear.
#[derive(Default)]
struct Table {
    columns: Vec<Column>,
}

impl Table {
    fn column(&mut self, name: &str) -> &mut Column {
        let k = match self.columns.iter().position(|c| c.name == name) {
            Some(k) => k,
            None => {
                self.columns.push(Column { name: name.to_string(), values: Values::Empty, width: None, entries: 0 });
                self.columns.len() - 1
            }
        };
        &mut self.columns[k]
    }

    /// Write one field value (a scalar, or a sequence of scalars) to column `name`.
    fn write<T: Serialize + ?Sized>(&mut self, name: &str, value: &T) -> Res {
        let col = self.column(name);
        let mut seq_len = None;
        value.serialize(Cell { values: &mut col.values, nested: false, seq_len: &mut seq_len })?;
        col.entries += 1;
        // The first entry fixes the shape: a scalar (no width) or a sequence of its length.
        if col.entries == 1 {
            col.width = seq_len;
        } else if col.width != seq_len {
            return Err(ser::Error::custom(format!("field {name} changes shape between rows")));
        }
        Ok(())
    }
}

/// Writes one scalar value, or the elements of one sequence of scalars, into `values`.
struct Cell<'a> {
    values: &'a mut Values,
    nested: bool,
    /// Set when the value was a sequence (its length).
    seq_len: &'a mut Option<usize>,
}

impl<'a> ser::Serializer for Cell<'a> {
    type Ok = ();
    type Error = ColumnError;
    type SerializeSeq = SeqCell<'a>;
    type SerializeTuple = SeqCell<'a>;
    type SerializeTupleStruct = Impossible<(), ColumnError>;
    type SerializeTupleVariant = Impossible<(), ColumnError>;
    type SerializeMap = Impossible<(), ColumnError>;
    type SerializeStruct = Impossible<(), ColumnError>;
    type SerializeStructVariant = Impossible<(), ColumnError>;

    fn serialize_bool(self, v: bool) -> Res {
        push!(self.values, Bool, v)
    }
    fn serialize_i8(self, v: i8) -> Res {
        push!(self.values, I32, v as i32)
    }
    fn serialize_i16(self, v: i16) -> Res {
        push!(self.values, I32, v as i32)
    }
    fn serialize_i32(self, v: i32) -> Res {
        push!(self.values, I32, v)
    }
    fn serialize_i64(self, v: i64) -> Res {
        push!(self.values, I64, v)
    }
    fn serialize_u8(self, v: u8) -> Res {
        push!(self.values, U8, v)
    }
    fn serialize_u16(self, v: u16) -> Res {
        push!(self.values, U32, v as u32)
    }
    fn serialize_u32(self, v: u32) -> Res {
        push!(self.values, U32, v)
    }
    fn serialize_u64(self, v: u64) -> Res {
        push!(self.values, U64, v)
    }
    fn serialize_f32(self, v: f32) -> Res {
        push!(self.values, F64, v as f64)
    }
    fn serialize_f64(self, v: f64) -> Res {
        push!(self.values, F64, v)
    }
    fn serialize_char(self, v: char) -> Res {
        push!(self.values, Str, v.to_string())
    }
    fn serialize_str(self, v: &str) -> Res {
        push!(self.values, Str, v.to_string())
    }
    fn serialize_unit_variant(self, _name: &'static str, _index: u32, variant: &'static str) -> Res {
        push!(self.values, Str, variant.to_string())
    }
    fn serialize_some<T: Serialize + ?Sized>(self, value: &T) -> Res {
        value.serialize(self)
    }
    fn serialize_newtype_struct<T: Serialize + ?Sized>(self, name: &'static str, value: &T) -> Res {
        // An array field names its element type (drxkmc_core::columns): an empty one keeps it.
        if let (Values::Empty, Some(typed)) = (&*self.values, Values::typed(name)) {
            *self.values = typed;
        }
        value.serialize(self)
    }
    fn serialize_seq(self, len: Option<usize>) -> Res<SeqCell<'a>> {
        if self.nested {
            return Err(ser::Error::custom("a column holds scalars or sequences of scalars"));
        }
        // A typed array (a per-site column of 10⁷ entries) is copied once, without regrowth.
        self.values.reserve(len.unwrap_or(0));
        Ok(SeqCell { values: self.values, seq_len: self.seq_len, n: 0 })
    }
    fn serialize_tuple(self, len: usize) -> Res<SeqCell<'a>> {
        self.serialize_seq(Some(len))
    }
    fn serialize_bytes(self, _v: &[u8]) -> Res {
        Err(ser::Error::custom("bytes are not a column type"))
    }
    fn serialize_none(self) -> Res {
        Err(ser::Error::custom("None in a column (skip the field instead)"))
    }
    fn serialize_unit(self) -> Res {
        Err(ser::Error::custom("() is not a column type"))
    }
    fn serialize_unit_struct(self, _name: &'static str) -> Res {
        Err(ser::Error::custom("a unit struct is not a column type"))
    }
    fn serialize_newtype_variant<T: Serialize + ?Sized>(
        self,
        _name: &'static str,
        _index: u32,
        _variant: &'static str,
        _value: &T,
    ) -> Res {
        Err(ser::Error::custom("an enum with data is not a column type"))
    }
    fn serialize_tuple_struct(self, _name: &'static str, _len: usize) -> Res<Self::SerializeTupleStruct> {
        Err(ser::Error::custom("a tuple struct is not a column type"))
    }
    fn serialize_tuple_variant(
        self,
        _name: &'static str,
        _index: u32,
        _variant: &'static str,
        _len: usize,
    ) -> Res<Self::SerializeTupleVariant> {
        Err(ser::Error::custom("an enum with data is not a column type"))
    }
    fn serialize_map(self, _len: Option<usize>) -> Res<Self::SerializeMap> {
        Err(ser::Error::custom("a map is not a column type"))
    }
    fn serialize_struct(self, _name: &'static str, _len: usize) -> Res<Self::SerializeStruct> {
        Err(ser::Error::custom("a struct is not a column type"))
    }
    fn serialize_struct_variant(
        self,
        _name: &'static str,
        _index: u32,
        _variant: &'static str,
        _len: usize,
    ) -> Res<Self::SerializeStructVariant> {
        Err(ser::Error::custom("an enum with data is not a column type"))
    }
}

/// The elements of one sequence value.
struct SeqCell<'a> {
    values: &'a mut Values,
    seq_len: &'a mut Option<usize>,
    n: usize,
}

impl ser::SerializeSeq for SeqCell<'_> {
    type Ok = ();
    type Error = ColumnError;
    fn serialize_element<T: Serialize + ?Sized>(&mut self, value: &T) -> Res {
        self.n += 1;
        value.serialize(Cell { values: self.values, nested: true, seq_len: &mut None })
    }
    fn end(self) -> Res {
        *self.seq_len = Some(self.n);
        Ok(())
    }
}

impl ser::SerializeTuple for SeqCell<'_> {
    type Ok = ();
    type Error = ColumnError;
    fn serialize_element<T: Serialize + ?Sized>(&mut self, value: &T) -> Res {
        ser::SerializeSeq::serialize_element(self, value)
    }
    fn end(self) -> Res {
        ser::SerializeSeq::end(self)
    }
}

/// Serialises one struct (or map with string keys, as `#[serde(flatten)]` makes) into the
/// columns of a table: one entry per field.
struct Record<'a> {
    table: &'a mut Table,
    /// The key of a map entry whose value comes next.
    key: Option<String>,
}

macro_rules! not_a_record {
    ($($f:ident($($t:ty),*)),*) => {
        $(fn $f(self, $(_: $t),*) -> Res {
            Err(ser::Error::custom("a result row must be a struct"))
        })*
    };
}

impl<'a> ser::Serializer for Record<'a> {
    type Ok = ();
    type Error = ColumnError;
    type SerializeSeq = Impossible<(), ColumnError>;
    type SerializeTuple = Impossible<(), ColumnError>;
    type SerializeTupleStruct = Impossible<(), ColumnError>;
    type SerializeTupleVariant = Impossible<(), ColumnError>;
    type SerializeMap = Record<'a>;
    type SerializeStruct = Record<'a>;
    type SerializeStructVariant = Impossible<(), ColumnError>;

    not_a_record!(
        serialize_bool(bool),
        serialize_i8(i8),
        serialize_i16(i16),
        serialize_i32(i32),
        serialize_i64(i64),
        serialize_u8(u8),
        serialize_u16(u16),
        serialize_u32(u32),
        serialize_u64(u64),
        serialize_f32(f32),
        serialize_f64(f64),
        serialize_char(char),
        serialize_str(&str),
        serialize_bytes(&[u8]),
        serialize_none(),
        serialize_unit(),
        serialize_unit_struct(&'static str),
        serialize_unit_variant(&'static str, u32, &'static str)
    );
    fn serialize_some<T: Serialize + ?Sized>(self, value: &T) -> Res {
        value.serialize(self)
    }
    fn serialize_newtype_struct<T: Serialize + ?Sized>(self, _name: &'static str, value: &T) -> Res {
        value.serialize(self)
    }
    fn serialize_newtype_variant<T: Serialize + ?Sized>(
        self,
        _name: &'static str,
        _index: u32,
        _variant: &'static str,
        _value: &T,
    ) -> Res {
        Err(ser::Error::custom("a result row must be a struct"))
    }
    fn serialize_seq(self, _len: Option<usize>) -> Res<Self::SerializeSeq> {
        Err(ser::Error::custom("a result row must be a struct"))
    }
    fn serialize_tuple(self, _len: usize) -> Res<Self::SerializeTuple> {
        Err(ser::Error::custom("a result row must be a struct"))
    }
    fn serialize_tuple_struct(self, _name: &'static str, _len: usize) -> Res<Self::SerializeTupleStruct> {
        Err(ser::Error::custom("a result row must be a struct"))
    }
    fn serialize_tuple_variant(
        self,
        _name: &'static str,
        _index: u32,
        _variant: &'static str,
        _len: usize,
    ) -> Res<Self::SerializeTupleVariant> {
        Err(ser::Error::custom("a result row must be a struct"))
    }
    fn serialize_map(self, _len: Option<usize>) -> Res<Record<'a>> {
        Ok(self)
    }
    fn serialize_struct(self, _name: &'static str, _len: usize) -> Res<Record<'a>> {
        Ok(self)
    }
    fn serialize_struct_variant(
        self,
        _name: &'static str,
        _index: u32,
        _variant: &'static str,
        _len: usize,
    ) -> Res<Self::SerializeStructVariant> {
        Err(ser::Error::custom("a result row must be a struct"))
    }
}

impl ser::SerializeStruct for Record<'_> {
    type Ok = ();
    type Error = ColumnError;
    fn serialize_field<T: Serialize + ?Sized>(&mut self, key: &'static str, value: &T) -> Res {
        self.table.write(key, value)
    }
    fn end(self) -> Res {
        Ok(())
    }
}

impl ser::SerializeMap for Record<'_> {
    type Ok = ();
    type Error = ColumnError;
    fn serialize_key<T: Serialize + ?Sized>(&mut self, key: &T) -> Res {
        let mut k = Values::Empty;
        key.serialize(Cell { values: &mut k, nested: true, seq_len: &mut None })?;
        match k {
            Values::Str(mut s) if s.len() == 1 => {
                self.key = s.pop();
                Ok(())
            }
            _ => Err(ser::Error::custom("result field names must be strings")),
        }
    }
    fn serialize_value<T: Serialize + ?Sized>(&mut self, value: &T) -> Res {
        let key = self.key.take().ok_or_else(|| ColumnError("a map value without its key".into()))?;
        self.table.write(&key, value)
    }
    fn end(self) -> Res {
        Ok(())
    }
}

fn record<T: Serialize + ?Sized>(table: &mut Table, value: &T) -> Res {
    value.serialize(Record { table, key: None })
}

/// One result struct as a dict: scalar fields as Python scalars, sequence fields as numpy
/// arrays of their element type (lists for strings).
pub(crate) fn struct_to_dict<'py, T: Serialize>(py: Python<'py>, value: &T) -> PyResult<Bound<'py, PyDict>> {
    let mut table = Table::default();
    record(&mut table, value)?;
    let d = PyDict::new(py);
    for c in table.columns {
        let v = if c.width.is_some() { c.values.array(py, None)? } else { c.values.scalar(py)? };
        d.set_item(c.name, v)?;
    }
    Ok(d)
}

/// Result rows as a dict of columns (numpy arrays of each field's type; 2-D for fixed-size
/// array fields; lists for strings). With no rows, the columns of `T::default()` with no
/// values, so the keys and types are those of any other call.
pub(crate) fn rows_to_dict<'py, T: Serialize + Default>(py: Python<'py>, rows: &[T]) -> PyResult<Bound<'py, PyDict>> {
    let mut table = Table::default();
    if rows.is_empty() {
        record(&mut table, &T::default())?;
        for c in &mut table.columns {
            c.values = std::mem::replace(&mut c.values, Values::Empty).cleared();
        }
    } else {
        for row in rows {
            record(&mut table, row)?;
        }
        if let Some(c) = table.columns.iter().find(|c| c.entries != rows.len()) {
            return Err(ColumnError(format!("field {} is missing from some rows", c.name)).into());
        }
    }
    let d = PyDict::new(py);
    for c in table.columns {
        let width = c.width;
        d.set_item(c.name, c.values.array(py, width)?)?;
    }
    Ok(d)
}
