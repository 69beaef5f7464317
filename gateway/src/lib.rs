//! clicktail gateway (in progress).
