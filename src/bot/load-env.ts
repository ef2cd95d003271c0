// Imported first by the entry points: .env must be in process.env before any module (the
// logger reads LOG_LEVEL when it loads) looks at it.
import { config } from 'dotenv';

config({ quiet: true });
