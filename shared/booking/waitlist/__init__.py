"""The waitlist of full slots (seed 004): join and leave (`join`), offers when seats free up (`promote`), what the
client and the owner see (`views`). Storage: booking.dal.waitlist."""
