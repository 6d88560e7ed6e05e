// The worker thread behind PlayDecoder (piscina loads this file by its URL).
import { decodeBatch } from './play-batch.js';

export default decodeBatch;
