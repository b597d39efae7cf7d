// No configuration at all, as a user starts.
export default {};
