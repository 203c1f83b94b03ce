pub mod instances_page;
pub mod not_found_page;
