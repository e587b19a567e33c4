from semcse.cli import main

if __name__ == "__main__":  # guarded: spawned child processes import this module too
    main()
