//! The name server: route tables and the request processors that serve them. It never talks to
//! other name servers; every broker registers with each of them.

pub mod route;
