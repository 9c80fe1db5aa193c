//! Intel High Definition Audio controller and codec driver, over small register and DMA traits.

#![no_std]
