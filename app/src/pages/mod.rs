pub mod audit_page;
pub mod instances_page;
pub mod not_found_page;
pub mod profile_fields;
pub mod register_page;
pub mod sign_in_page;
pub mod user_page;
pub mod users_page;
