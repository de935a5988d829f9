//! Result structs as columns: the core's result types (`Observation`, `Event`, `Percolation`,
//! the SRO measures…) derive `Serialize` under the names their columns carry in Python, so each
//! result field is declared once, here in the core. An array field is marked with
//! [`array`]: serialised as a newtype named `array:<element type>`, so that a reader keeps the
//! element type of an empty array too.

use serde::{Serialize, Serializer};

/// Element types of result arrays, with the newtype name [`array`] gives them.
pub trait Element: Serialize {
    const NAME: &'static str;
}

macro_rules! element {
    ($($t:ty => $name:literal),*) => {
        $(impl Element for $t {
            const NAME: &'static str = $name;
        })*
    };
}

element!(bool => "array:bool", u8 => "array:u8", u32 => "array:u32", i32 => "array:i32", u64 => "array:u64",
    f64 => "array:f64");

/// `serialize_with` for an array field: the elements, in a newtype named after their type.
#[allow(clippy::ptr_arg)] // serde hands over the field itself (a Vec)
pub fn array<T: Element, S: Serializer>(v: &Vec<T>, s: S) -> Result<S::Ok, S::Error> {
    Array(v).serialize(s)
}

/// An array value serialised as [`array`] does (for map entries written by hand).
pub struct Array<'a, T>(pub &'a [T]);

impl<T: Element> Serialize for Array<'_, T> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_newtype_struct(T::NAME, self.0)
    }
}
