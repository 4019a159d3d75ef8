export interface TokenPair {
  access_token: string;
  refresh_token: string;
}

/** Where the tokens live: the refresh token in localStorage, the access token in memory and storage. */
export interface TokenStore {
  access(): string | null;
  refresh(): string | null;
  set(pair: TokenPair): void;
  clear(): void;
}

const ACCESS_KEY = "rugpt.access";
const REFRESH_KEY = "rugpt.refresh";

export class MemoryTokenStore implements TokenStore {
  private pair: TokenPair | null = null;
  constructor(initial?: TokenPair) {
    this.pair = initial ?? null;
  }
  access(): string | null {
    return this.pair?.access_token ?? null;
  }
  refresh(): string | null {
    return this.pair?.refresh_token ?? null;
  }
  set(pair: TokenPair): void {
    this.pair = { access_token: pair.access_token, refresh_token: pair.refresh_token };
  }
  clear(): void {
    this.pair = null;
  }
}

export class BrowserTokenStore implements TokenStore {
  private accessToken: string | null;

  constructor(private readonly storage: Storage = window.localStorage) {
    this.accessToken = storage.getItem(ACCESS_KEY);
  }
  access(): string | null {
    return this.accessToken;
  }
  refresh(): string | null {
    return this.storage.getItem(REFRESH_KEY);
  }
  set(pair: TokenPair): void {
    this.accessToken = pair.access_token;
    this.storage.setItem(ACCESS_KEY, pair.access_token);
    this.storage.setItem(REFRESH_KEY, pair.refresh_token);
  }
  clear(): void {
    this.accessToken = null;
    this.storage.removeItem(ACCESS_KEY);
    this.storage.removeItem(REFRESH_KEY);
  }
}
