pub mod cuba;
