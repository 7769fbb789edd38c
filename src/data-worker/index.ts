/** Entry of a regional data Worker (one deployment per region: workers/data/). */
import { createDataApp } from './app.ts';

export default createDataApp();
